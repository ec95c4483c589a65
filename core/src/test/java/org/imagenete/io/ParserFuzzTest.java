package org.imagenete.io;

import com.code_intelligence.jazzer.junit.FuzzTest;
import org.imagenete.testutil.Fuzzing;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/**
 * Fuzz targets for the checkpoint parsers. {@code mvn test} replays the inputs under
 * {@code src/test/resources/org/imagenete/io/ParserFuzzTestInputs/<target>/} (seeds and every finding so far);
 * {@code JAZZER_FUZZ=1} fuzzes one target (see the README's "Bad input" section for the CI lines).
 */
class ParserFuzzTest {
    private static final Path FILE = Path.of("fuzz.pt");

    /** The restricted unpickler on any bytes: a value, or a one-line refusal; never a hang or another exception. */
    @FuzzTest(maxDuration = "30s")
    void pickle(byte[] data) {
        try {
            Unpickler.load(FILE, "archive/data.pkl", data);
        } catch (CheckpointException e) {
            Fuzzing.checkRefusal(e, FILE.toString());
        }
    }

    /** A whole torch.save file (zip index, local headers, inflating, the pickle, storages) from any bytes. */
    @FuzzTest(maxDuration = "30s")
    void torchZip(byte[] data) {
        try (Arena arena = Arena.ofConfined()) {
            TorchCheckpoint ck = TorchCheckpoint.parse(FILE, null, arena, MemorySegment.ofArray(data));
            ck.stateDict().forEach((k, t) -> t.byteSize());
        } catch (CheckpointException e) {
            Fuzzing.checkRefusal(e, FILE.toString());
        }
    }

    /** A safetensors file (length, JSON header, data ranges) from any bytes. */
    @FuzzTest(maxDuration = "30s")
    void safetensors(byte[] data) {
        try (Arena arena = Arena.ofConfined()) {
            SafeTensors st = SafeTensors.parse(FILE, arena, MemorySegment.ofArray(data));
            st.tensors().forEach((k, t) -> t.byteSize());
        } catch (CheckpointException e) {
            Fuzzing.checkRefusal(e, FILE.toString());
        }
    }
}
