package org.imagenete.api;

import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Executable;
import java.lang.reflect.GenericArrayType;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.lang.reflect.WildcardType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The embedding API is the package {@code org.imagenete} and only it (module-info exports nothing else): every public
 * type there names, in public signatures, only types of that package and of the JDK, so that code which uses the API
 * never needs an implementation package. (javac's -Xlint:exports says the same for the module path; this test fails
 * the build.)
 */
class ApiSurfaceTest {
    static final String API = "org.imagenete";

    @Test
    void publicSignaturesNameOnlyApiAndJdkTypes() throws Exception {
        List<Class<?>> api = apiClasses();
        assertTrue(api.size() >= 8, "the API classes were not found: " + api);
        List<String> leaks = new ArrayList<>();
        for (Class<?> c : api) leaks.addAll(leaks(c));
        assertEquals(List.of(), leaks, "public API signatures that name implementation types");
    }

    /** The check can fail: a public method returning a {@code List<Tensor>} is a leak, a private one is not. */
    @Test
    void aLeakIsCaught() {
        assertEquals(List.of("Leaky.tensors: org.imagenete.tensor.Tensor"), leaks(Leaky.class));
    }

    @SuppressWarnings("unused")
    public static final class Leaky {
        public List<org.imagenete.tensor.Tensor> tensors() { return List.of(); }

        private org.imagenete.ops.Ops ops() { return null; }

        public java.util.Map<String, ? extends Number> fine() { return null; }
    }

    static List<String> leaks(Class<?> c) {
        List<String> leaks = new ArrayList<>();
        for (var m : c.getDeclaredMethods())
            if (Modifier.isPublic(m.getModifiers()) && !m.isSynthetic()) check(c, m, Stream.concat(Stream.of(m.getGenericReturnType()),
                    Stream.of(m.getGenericParameterTypes())), leaks);
        for (var k : c.getDeclaredConstructors())
            if (Modifier.isPublic(k.getModifiers())) check(c, k, Stream.of(k.getGenericParameterTypes()), leaks);
        for (var f : c.getDeclaredFields())
            if (Modifier.isPublic(f.getModifiers())) check(c, f.getName(), f.getGenericType(), leaks);
        return leaks;
    }

    @Test
    void theModuleExportsOnlyTheApiPackage() throws Exception {
        Module m = org.imagenete.ImagenetE.class.getModule();
        // On the class path (as surefire runs the tests) the module is unnamed; read the compiled descriptor instead.
        var d = m.isNamed() ? m.getDescriptor() : java.lang.module.ModuleDescriptor.read(descriptor());
        assertEquals("org.imagenete", d.name());
        assertEquals(List.of(API), d.exports().stream().map(e -> e.source()).toList());
        assertTrue(d.exports().stream().noneMatch(e -> e.isQualified()));
    }

    /** The compiled module-info.class beside ImagenetE.class (the class path has others, the JDK's and libraries'). */
    private static java.io.InputStream descriptor() throws Exception {
        Path root = Path.of(org.imagenete.ImagenetE.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        return Files.newInputStream(root.resolve("module-info.class"));
    }

    private static List<Class<?>> apiClasses() throws ClassNotFoundException {
        List<Class<?>> out = new ArrayList<>();
        for (JavaClass jc : new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS).importPackages(API)) {
            if (!jc.getPackageName().equals(API) || !jc.getModifiers().contains(com.tngtech.archunit.core.domain.JavaModifier.PUBLIC)) continue;
            out.add(Class.forName(jc.getName()));
        }
        return out;
    }

    private static void check(Class<?> owner, Executable e, Stream<Type> types, List<String> leaks) {
        types.forEach(t -> check(owner, e.getName(), t, leaks));
    }

    private static void check(Class<?> owner, String member, Type t, List<String> leaks) {
        switch (t) {
            case Class<?> c when c.isArray() -> check(owner, member, c.getComponentType(), leaks);
            case Class<?> c -> {
                String p = c.getPackageName();
                if (!c.isPrimitive() && !p.equals(API) && !p.startsWith("java.")) leaks.add(owner.getSimpleName() + "." + member + ": " + c.getName());
            }
            case ParameterizedType p -> {
                check(owner, member, p.getRawType(), leaks);
                for (Type a : p.getActualTypeArguments()) check(owner, member, a, leaks);
            }
            case GenericArrayType g -> check(owner, member, g.getGenericComponentType(), leaks);
            case WildcardType w -> {
                for (Type b : w.getUpperBounds()) check(owner, member, b, leaks);
                for (Type b : w.getLowerBounds()) check(owner, member, b, leaks);
            }
            case TypeVariable<?> v -> { for (Type b : v.getBounds()) check(owner, member, b, leaks); }
            default -> leaks.add(owner.getSimpleName() + "." + member + ": unknown type " + t);
        }
    }
}
