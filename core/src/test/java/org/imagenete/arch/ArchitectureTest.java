package org.imagenete.arch;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchRule;
import com.tngtech.archunit.lang.EvaluationResult;
import org.imagenete.cli.Main;
import org.imagenete.tensor.archfixture.UpwardImport;
import org.junit.jupiter.api.Test;

import static com.tngtech.archunit.library.Architectures.layeredArchitecture;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The packages point one way: tensor < device < ops < io/image < nn < diffusion < edit < dataset, eval < the
 * applications (cli, gpucheck, the embedding API ImagenetE). A class may use its own layer and the layers below,
 * never one above; dataset and eval, side by side, do not use each other. Checked on the main classes with ArchUnit.
 */
class ArchitectureTest {
    static final String APP = "application";

    /** The layer rule over every class of org.imagenete; {@code optional}: layers may be empty (a few classes checked). */
    static ArchRule layers(boolean optional) {
        return layeredArchitecture().consideringOnlyDependenciesInLayers().withOptionalLayers(optional)
                .layer("tensor").definedBy("org.imagenete.tensor..")
                .layer("device").definedBy("org.imagenete.device..")
                .layer("ops").definedBy("org.imagenete.ops..")
                .layer("io").definedBy("org.imagenete.io..", "org.imagenete.image..")
                .layer("nn").definedBy("org.imagenete.nn..")
                .layer("diffusion").definedBy("org.imagenete.diffusion..")
                .layer("edit").definedBy("org.imagenete.edit..")
                .layer("dataset").definedBy("org.imagenete.dataset..")
                .layer("eval").definedBy("org.imagenete.eval..")
                .layer(APP).definedBy("org.imagenete.cli..", "org.imagenete.gpucheck..", "org.imagenete")
                .whereLayer(APP).mayNotBeAccessedByAnyLayer()
                .whereLayer("eval").mayOnlyBeAccessedByLayers(APP)
                .whereLayer("dataset").mayOnlyBeAccessedByLayers(APP)
                .whereLayer("edit").mayOnlyBeAccessedByLayers("dataset", "eval", APP)
                .whereLayer("diffusion").mayOnlyBeAccessedByLayers("edit", "dataset", "eval", APP)
                .whereLayer("nn").mayOnlyBeAccessedByLayers("diffusion", "edit", "dataset", "eval", APP)
                .whereLayer("io").mayOnlyBeAccessedByLayers("nn", "diffusion", "edit", "dataset", "eval", APP)
                .whereLayer("ops").mayOnlyBeAccessedByLayers("io", "nn", "diffusion", "edit", "dataset", "eval", APP)
                .whereLayer("device").mayOnlyBeAccessedByLayers("ops", "io", "nn", "diffusion", "edit", "dataset", "eval", APP)
                .whereLayer("tensor").mayOnlyBeAccessedByLayers("device", "ops", "io", "nn", "diffusion", "edit", "dataset", "eval", APP);
    }

    @Test
    void lowerPackagesNeverImportHigherOnes() {
        JavaClasses main = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("org.imagenete");
        assertTrue(main.size() > 150, "imported " + main.size() + " classes: the rule must see the main code");
        layers(false).check(main);
    }

    /** The rule can fail: a tensor-level class that calls the command line is a violation. */
    @Test
    void anUpwardImportIsCaught() {
        JavaClasses cs = new ClassFileImporter().importClasses(UpwardImport.class, Main.class);
        EvaluationResult r = layers(true).evaluate(cs);
        assertTrue(r.hasViolation(), "the fixture's import of cli from tensor must be reported");
        String details = String.join("\n", r.getFailureReport().getDetails());
        System.out.println(details);
        assertTrue(details.contains(UpwardImport.class.getName()) && details.contains(Main.class.getName()), details);
    }
}
