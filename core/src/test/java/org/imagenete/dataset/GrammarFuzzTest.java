package org.imagenete.dataset;

import com.code_intelligence.jazzer.junit.FuzzTest;
import org.imagenete.edit.Edit;
import org.imagenete.testutil.Fuzzing;

import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Fuzz target for the edit grammar ({@code edit --set}) and the variant-name grammar ({@code generate --variants}):
 * a spec is edits or a one-line refusal, and the name of any edits reads back as the same edits (so names are unique
 * per distinct edit). Inputs under {@code src/test/resources/org/imagenete/dataset/GrammarFuzzTestInputs/<target>/}.
 */
class GrammarFuzzTest {
    @FuzzTest(maxDuration = "30s")
    void editAndVariantGrammar(byte[] data) {
        String spec = new String(data, StandardCharsets.UTF_8);
        try {
            List<Edit> edits = Edit.parse(spec);
            String name = Edit.name(edits);
            List<Edit> back = Variants.fromName(name);
            if (!back.equals(edits)) throw new AssertionError("'" + spec + "' is named " + name + ", which reads back as " + back);
            Variant.of(name, edits);
        } catch (IllegalArgumentException e) {
            Fuzzing.checkRefusal(e, null);
        }
        try {
            Variants.parseList(spec);
        } catch (IllegalArgumentException e) {
            Fuzzing.checkRefusal(e, null);
        }
    }
}
