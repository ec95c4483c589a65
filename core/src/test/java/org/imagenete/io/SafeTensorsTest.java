package org.imagenete.io;

import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafeTensorsTest {
    @TempDir Path dir;

    @Test
    void readsGoldenFileWithMetadataAndDtypes() {
        try (SafeTensors st = SafeTensors.open(Golden.golden("adm-tiny/io.safetensors"))) {
            assertEquals(DType.F32, st.get("x").dtype());
            assertEquals(DType.F64, st.get("out_f64").dtype());
            assertEquals("adm-tiny", st.metadata().get("case"));
            // first formula input value (formula_selfcheck.json): 0x3f676568
            assertEquals(0x3f676568, Float.floatToRawIntBits(st.get("x").getFloat(0)));
            assertEquals(st.get("out").getFloat(5), (float) st.get("out_f64").getDouble(5), 1e-5);
        }
    }

    @Test
    void roundTripsF32F16Bf16I64() throws IOException {
        float[] v = {0f, 1f, -2.5f, 3.14159f, 65504f, 1e-3f};
        Map<String, Tensor> m = new LinkedHashMap<>();
        try (Tensor f = Tensor.of(v, 2, 3); Tensor h = f.convert(DType.F16); Tensor b = f.convert(DType.BF16);
             Tensor l = Tensor.zeros(DType.I64, 4)) {
            l.data().setAtIndex(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 3, 1234567890123L);
            m.put("f", f);
            m.put("h", h);
            m.put("b", b);
            m.put("l", l);
            Path p = dir.resolve("t.safetensors");
            SafeTensors.write(p, m, Map.of("who", "test"));
            try (SafeTensors st = SafeTensors.open(p)) {
                assertEquals(List.of("f", "h", "b", "l"), List.copyOf(st.tensors().keySet()));
                assertArrayEquals(v, st.get("f").toFloatArray());
                // expected values computed with numpy float16 and round-to-nearest-even bfloat16
                assertArrayEquals(new float[]{0f, 1f, -2.5f, 3.140625f, 65504f, 0.0010004044f}, st.get("h").toFloatArray());
                assertArrayEquals(new float[]{0f, 1f, -2.5f, 3.140625f, 65536f, 0.00099945068359375f}, st.get("b").toFloatArray());
                assertEquals(1234567890123L, st.get("l").getLong(3));
                assertEquals("test", st.metadata().get("who"));
                assertEquals(0, (Files.size(p) - 8 - st.get("f").byteSize() - st.get("h").byteSize() - st.get("b").byteSize()
                        - st.get("l").byteSize()) % 8, "header padded to 8 bytes");
            }
        }
    }

    private Path withHeader(String json, int dataBytes) throws IOException {
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        ByteBuffer bb = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        bb.putLong(h.length).put(h);
        Path p = dir.resolve("bad" + Math.abs(json.hashCode()) + ".safetensors");
        Files.write(p, bb.array());
        return p;
    }

    private void refused(Path p, String... fragments) {
        var e = assertThrows(CheckpointException.class, () -> SafeTensors.open(p).close());
        assertTrue(e.getMessage().contains(p.toString()), e.getMessage());
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "'" + f + "' not in: " + e.getMessage());
    }

    @Test
    void corruptFilesAreRefusedNamingFileAndKey() throws IOException {
        refused(withHeader("{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 8), "'a'", "truncated");
        refused(withHeader("{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 12]}}", 12), "'a'", "needs 16");
        refused(withHeader("{\"a\": {\"dtype\": \"C64\", \"shape\": [1], \"data_offsets\": [0, 8]}}", 8), "'a'", "unsupported dtype C64");
        refused(withHeader("{\"a\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4), "'a'", "data_offsets");
        refused(withHeader("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
                + "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 12), "overlap");
        refused(withHeader("{not json", 0), "invalid JSON");
        Path tiny = dir.resolve("tiny.safetensors");
        Files.write(tiny, new byte[]{1, 2, 3});
        refused(tiny, "only 3 bytes");
        Path huge = dir.resolve("huge.safetensors");
        Files.write(huge, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1L << 40).array());
        refused(huge, "header length");
        // a real file cut in the middle of its data
        Path cut = dir.resolve("cut.safetensors");
        byte[] all = Files.readAllBytes(Golden.golden("adm-tiny/weights.safetensors"));
        Files.write(cut, Arrays.copyOf(all, all.length / 2));
        refused(cut, "truncated");
    }

    /** What the format's reference implementation refuses, refused here too, each naming the tensor or the key. */
    @Test
    void headerIsCheckedAsTheReferenceImplementationDoes() throws IOException {
        String a = "\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}";
        refused(withHeader("{\"a\": {\"dtype\": \"F32\", \"shape\": [2.0], \"data_offsets\": [0, 8]}}", 8), "'a'", "shape holds 2.0, not a whole number");
        refused(withHeader("{\"a\": {\"dtype\": \"F32\", \"shape\": [2.5], \"data_offsets\": [0, 8]}}", 8), "'a'", "shape holds 2.5");
        refused(withHeader("{\"a\": {\"dtype\": \"F32\", \"shape\": [\"2\"], \"data_offsets\": [0, 8]}}", 8), "'a'", "shape holds \"2\"");
        refused(withHeader("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8.0]}}", 8), "'a'", "data_offsets holds 8.0");
        refused(withHeader("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [-8, 0]}}", 8), "'a'", "data_offsets holds -8");
        refused(withHeader("{" + a + ", " + a + "}", 8), "key 'a' appears twice (the format disallows duplicate keys)");
        refused(withHeader("{\"__metadata__\": {\"k\": 1}, " + a + "}", 8), "__metadata__ entry 'k' is NUMBER, not a string");
        refused(withHeader("{\"__metadata__\": {\"k\": \"x\", \"k\": \"y\"}, " + a + "}", 8), "key 'k' appears twice");
        refused(withHeader("{" + a + ", \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 12),
                "tensor 'b': data [4, 12) overlaps tensor 'a' [0, 8)");
        refused(withHeader("{" + a + ", \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [12, 16]}}", 16),
                "tensor 'b': data starts at 12 but the previous tensor 'a' ends at 8");
        refused(withHeader("{" + a + "}", 16), "8 bytes after the last tensor belong to none");
        refused(withHeader("{\"a\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4294967296], \"data_offsets\": [0, 8]}}", 8),
                "'a'", "overflows 64 bits");
        refused(withHeader("{\"a\": " + "[".repeat(5000) + "]".repeat(5000) + "}", 0), "invalid JSON");
        Path big = dir.resolve("big-header.safetensors");
        Files.write(big, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(-1).array());
        refused(big, "header length 18446744073709551615");
        // zero-size tensors may share an offset, as the reference allows
        Path empty = withHeader("{\"e\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [0, 0]}, "
                + "\"f\": {\"dtype\": \"F32\", \"shape\": [2, 0], \"data_offsets\": [0, 0]}, " + a + "}", 8);
        try (SafeTensors st = SafeTensors.open(empty)) {
            assertEquals(3, st.tensors().size());
        }
    }

    @Test
    void missingTensorIsNamed() {
        try (SafeTensors st = SafeTensors.open(Golden.golden("adm-tiny/io.safetensors"))) {
            var e = assertThrows(CheckpointException.class, () -> st.get("nope"));
            assertTrue(e.getMessage().contains("'nope'") && e.getMessage().contains("missing"), e.getMessage());
        }
    }

    @Test
    void writeIsAtomicAndLeavesNoTemporaryFiles() throws IOException {
        Path p = dir.resolve("out.safetensors");
        try (Tensor t = Tensor.of(new float[]{1, 2}, 2)) {
            SafeTensors.write(p, Map.of("t", t), Map.of());
            SafeTensors.write(p, Map.of("t", t), Map.of());
        }
        try (var s = Files.list(dir)) {
            assertEquals(List.of("out.safetensors"), s.map(x -> x.getFileName().toString()).toList());
        }
    }
}
