package org.imagenete.serve;

import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Function;

/** The fields of a multipart form, by name: plain fields as text, file fields as bytes. */
record Form(List<Multipart.Part> parts) {
    Set<String> names() {
        Set<String> s = new LinkedHashSet<>();
        for (Multipart.Part p : parts) s.add(p.name());
        return s;
    }

    /** Every value of a repeatable text field, in order. */
    List<String> all(String name) { return parts.stream().filter(p -> p.name().equals(name)).map(Multipart.Part::text).toList(); }

    /** The one value of a text field, or {@code otherwise}; a 400 when it is given twice or is blank. */
    String text(String name, String otherwise) {
        List<String> v = all(name);
        if (v.size() > 1) throw new HttpError(400, "field '" + name + "' given " + v.size() + " times");
        if (v.isEmpty()) return otherwise;
        String s = v.getFirst().strip();
        return s.isEmpty() ? otherwise : s;
    }

    <T> T number(String name, T otherwise, Function<String, T> parse) {
        String s = text(name, null);
        if (s == null) return otherwise;
        try {
            return parse.apply(s);
        } catch (NumberFormatException e) {
            throw new HttpError(400, "field '" + name + "': '" + s + "' is not a number");
        }
    }

    /** The part of a file field (null when absent); a 400 when it is given twice. */
    Multipart.Part file(String name) {
        List<Multipart.Part> v = parts.stream().filter(p -> p.name().equals(name)).toList();
        if (v.size() > 1) throw new HttpError(400, "field '" + name + "' given " + v.size() + " times");
        return v.isEmpty() ? null : v.getFirst();
    }
}
