package org.imagenete.io;

import org.imagenete.tensor.DType;
import org.imagenete.tensor.Shape;
import org.imagenete.tensor.Tensor;
import org.junit.jupiter.api.Assumptions;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.ValueLayout;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.imagenete.io.TorchFiles.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TorchCheckpointTest {
    private static final Path GOLDEN = Golden.golden("adm-tiny");

    @TempDir Path tmp;

    // ---- real torch.save files ----------------------------------------------------------------------

    @Test
    void goldenCheckpointMatchesSafetensorsBitForBit() {
        try (TorchCheckpoint pt = TorchCheckpoint.open(GOLDEN.resolve("weights.pt"));
             SafeTensors st = SafeTensors.open(Golden.golden("adm-tiny/weights.safetensors"))) {
            assertEquals(216, pt.stateDict().size());
            assertEquals(List.copyOf(st.tensors().keySet()), List.copyOf(pt.stateDict().keySet()));
            for (Map.Entry<String, Tensor> e : st.tensors().entrySet()) {
                Tensor a = e.getValue(), b = pt.get(e.getKey());
                assertEquals(a.dtype(), b.dtype(), e.getKey());
                assertEquals(a.shape(), b.shape(), e.getKey());
                assertEquals(-1, a.data().mismatch(b.data()), e.getKey() + " differs");
                // A view of the mapped file, not a heap or native copy.
                assertFalse(b.isOwner());
                assertTrue(b.data().isMapped(), e.getKey());
            }
            assertNull(pt.stateDictKey());
            assertEquals(List.of(), pt.ignoredEntries());
            assertEquals(GOLDEN.resolve("weights.pt"), pt.file());
        }
    }

    @Test
    void halfPrecisionStateDict() {
        try (TorchCheckpoint ck = TorchCheckpoint.open(fixture("fp16.pt"))) {
            checkSmallModel(ck, DType.F16);
            // The bits are the fp16 encoding, not a converted copy.
            assertEquals(Float.floatToFloat16(-0.75f), ck.get("0.weight").data().get(ValueLayout.JAVA_SHORT_UNALIGNED, 0));
        }
    }

    @Test
    void bfloat16StateDict() {
        try (TorchCheckpoint ck = TorchCheckpoint.open(fixture("bf16.pt"))) {
            checkSmallModel(ck, DType.BF16);
            assertEquals(Tensor.floatToBf16(3.140625f), ck.get("0.bias").data().getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, 2));
        }
    }

    private static void checkSmallModel(TorchCheckpoint ck, DType dt) {
        assertEquals(List.of("0.weight", "0.bias", "1.weight", "1.bias"), List.copyOf(ck.stateDict().keySet()));
        float[] w = new float[12];
        for (int i = 0; i < 12; i++) w[i] = (i - 6) / 8f;
        Tensor weight = ck.get("0.weight");
        assertEquals(dt, weight.dtype());
        assertEquals(Shape.of(3, 4), weight.shape());
        assertArrayEquals(w, weight.toFloatArray());
        assertArrayEquals(new float[]{0.5f, -0.25f, 3.140625f}, ck.get("0.bias").toFloatArray());
        assertArrayEquals(new float[]{1, 2, 3}, ck.get("1.weight").toFloatArray());
        assertArrayEquals(new float[]{-0.125f, 0, 0.125f}, ck.get("1.bias").toFloatArray());
        assertEquals(List.of(), ck.ignoredEntries());
    }

    @Test
    void nestedStateDictWithModulePrefixAndInt64Buffer() {
        try (TorchCheckpoint ck = TorchCheckpoint.open(fixture("nested.pt"))) {
            assertEquals("state_dict", ck.stateDictKey());
            assertEquals(List.of("0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                    "1.num_batches_tracked"), List.copyOf(ck.stateDict().keySet()));
            assertEquals(List.of("state_dict.module.note", "epoch", "arch", "lr", "milestones", "best"), ck.ignoredEntries());
            Tensor conv = ck.get("0.weight");
            assertEquals(Shape.of(2, 1, 1, 1), conv.shape());
            assertArrayEquals(new float[]{1, 2}, conv.toFloatArray());
            assertArrayEquals(new float[]{0.25f, -0.25f}, ck.get("0.bias").toFloatArray());
            assertArrayEquals(new float[]{0.5f, -0.5f}, ck.get("1.running_mean").toFloatArray());
            assertArrayEquals(new float[]{2, 4}, ck.get("1.running_var").toFloatArray());
            Tensor n = ck.get("1.num_batches_tracked");
            assertEquals(DType.I64, n.dtype());
            assertEquals(0, n.rank());
            assertEquals(5, n.getLong(0));
        }
    }

    @Test
    void parametersSavedWithKeepVars() throws IOException {
        Path f = fixture("params.pt");
        try (ZipFile z = new ZipFile(f.toFile())) {
            String pkl = new String(z.getInputStream(z.getEntry("params/data.pkl")).readAllBytes(), StandardCharsets.ISO_8859_1);
            assertTrue(pkl.contains("_rebuild_parameter"), "fixture should hold nn.Parameter objects");
        }
        try (TorchCheckpoint ck = TorchCheckpoint.open(f)) {
            assertEquals(List.of("weight", "bias", "count"), List.copyOf(ck.stateDict().keySet()));
            assertEquals(Shape.of(2, 3), ck.get("weight").shape());
            assertArrayEquals(new float[]{1, -1, 0.5f, 2, -2, 0.25f}, ck.get("weight").toFloatArray());
            assertArrayEquals(new float[]{0.75f, -0.75f}, ck.get("bias").toFloatArray());
            Tensor count = ck.get("count");
            assertEquals(DType.I64, count.dtype());
            assertEquals(7, count.getLong(0));
            assertEquals(-8, count.getLong(1));
        }
    }

    @Test
    void dtypesSharedStoragesTiedAndEmptyTensors() {
        try (TorchCheckpoint ck = TorchCheckpoint.open(fixture("dtypes.pt"))) {
            Map<String, Tensor> sd = ck.stateDict();
            assertEquals(List.of("f64", "i32", "u8", "i64", "view_a", "view_b", "tied1", "tied2", "empty", "row"), List.copyOf(sd.keySet()));
            assertEquals(DType.F64, sd.get("f64").dtype());
            assertArrayEquals(new double[]{1.5, -2.25}, sd.get("f64").toDoubleArray());
            Tensor i32 = sd.get("i32");
            assertEquals(DType.I32, i32.dtype());
            assertEquals(Shape.of(2, 2), i32.shape());
            assertEquals(List.of(1L, -2L, 3L, 2147483647L), List.of(i32.getLong(0), i32.getLong(1), i32.getLong(2), i32.getLong(3)));
            Tensor u8 = sd.get("u8");
            assertEquals(DType.U8, u8.dtype());
            assertEquals(List.of(0L, 1L, 255L), List.of(u8.getLong(0), u8.getLong(1), u8.getLong(2)));
            assertEquals(0, sd.get("i64").rank());
            assertEquals(-5, sd.get("i64").getLong(0));
            // Two views at offsets 2 and 5 of one 10-element storage.
            Tensor a = sd.get("view_a"), b = sd.get("view_b");
            assertArrayEquals(new float[]{2, 3, 4}, a.toFloatArray());
            assertEquals(Shape.of(1, 5), b.shape());
            assertArrayEquals(new float[]{5, 6, 7, 8, 9}, b.toFloatArray());
            assertEquals(12, b.data().address() - a.data().address());
            assertEquals(sd.get("tied1").data().address(), sd.get("tied2").data().address());
            assertArrayEquals(new float[]{9, 8}, sd.get("tied2").toFloatArray());
            assertEquals(Shape.of(0, 3), sd.get("empty").shape());
            assertEquals(0, sd.get("empty").byteSize());
            // size (1, 4) with stride (1, 1): contiguous, the stride of a size-1 dimension does not matter.
            assertEquals(Shape.of(1, 4), sd.get("row").shape());
            assertArrayEquals(new float[]{0, 1, 2, 3}, sd.get("row").toFloatArray());
        }
    }

    @Test
    void stateDictIsUnmodifiableAndDiesWithClose() {
        TorchCheckpoint ck = TorchCheckpoint.open(fixture("fp16.pt"));
        Tensor w = ck.get("0.weight");
        assertThrows(UnsupportedOperationException.class, () -> ck.stateDict().remove("0.weight"));
        assertThrows(UnsupportedOperationException.class, () -> ck.ignoredEntries().add("x"));
        ck.close();
        ck.close(); // idempotent
        assertThrows(IllegalStateException.class, () -> w.getFloat(0));
        CheckpointException e = assertThrows(CheckpointException.class, () -> ck.get("nope"));
        assertEquals("nope", e.key());
    }

    // ---- refusals and clear errors for real files ---------------------------------------------------

    @Test
    void maliciousFixtureIsRefusedAndNothingRuns() throws IOException {
        Path marker = Path.of("/tmp/imagenete-torchcheckpoint-pwned");
        Files.deleteIfExists(marker);
        Path f = fixture("malicious.pt");
        CheckpointException e = assertThrows(CheckpointException.class, () -> TorchCheckpoint.open(f));
        assertTrue(e.getMessage().startsWith(f + ": refusing to load: the pickle references global 'os.system', which a state dict never needs"),
                e.getMessage());
        assertEquals(f, e.file());
        assertFalse(Files.exists(marker), "the pickled command ran");
        assertThrows(CheckpointException.class, () -> Checkpoints.open(f));
        assertFalse(Files.exists(marker), "the pickled command ran");
    }

    @Test
    void legacySerializationIsExplained() {
        Path f = fixture("legacy.pt");
        assertError(f, null, () -> TorchCheckpoint.open(f), "legacy (pre-1.6) PyTorch serialization is not supported; re-save with torch>=1.6: "
                + "torch.save(torch.load(f), f2)");
        assertError(f, null, () -> Checkpoints.open(f), "legacy (pre-1.6)");
    }

    @Test
    void torchScriptArchiveIsExplained() {
        Path f = fixture("script.pt");
        assertError(f, null, () -> TorchCheckpoint.open(f), "TorchScript archive (torch.jit.save)");
    }

    @Test
    void unsupportedDtypeNamesTheTensor() {
        Path f = fixture("bool.pt");
        assertError(f, "mask", () -> TorchCheckpoint.open(f), "unsupported dtype: storage type torch.BoolStorage");
    }

    @Test
    void nonContiguousTensorNamesTheTensor() {
        Path f = fixture("noncontig.pt");
        assertError(f, "weight_t", () -> TorchCheckpoint.open(f), "non-contiguous tensor (size [3, 2], stride [1, 3])");
    }

    @Test
    void notACheckpoint() throws IOException {
        Path text = Files.writeString(tmp.resolve("notes.pt"), "these are not the weights you are looking for");
        assertError(text, null, () -> TorchCheckpoint.open(text), "not a PyTorch checkpoint: neither a zip nor a pickle");
        Path empty = Files.write(tmp.resolve("empty.pt"), new byte[0]);
        assertError(empty, null, () -> TorchCheckpoint.open(empty), "not a PyTorch checkpoint");
        Path st = Golden.golden("adm-tiny/weights.safetensors");
        assertError(st, null, () -> TorchCheckpoint.open(st), "looks like a safetensors file");
        Path missing = tmp.resolve("missing.pt");
        assertError(missing, null, () -> TorchCheckpoint.open(missing), "cannot read");
        // A zip, but not one torch wrote.
        Path zip = tmp.resolve("other.zip");
        writeZip(zip, List.of(new Ent("readme.txt", "hi".getBytes(UTF_8))), false, false);
        assertError(zip, null, () -> TorchCheckpoint.open(zip), "not a PyTorch checkpoint: a zip without a '<root>/data.pkl' entry");
        Path pickle = Files.write(tmp.resolve("bare.pkl"), new Pkl().op('}').stop());
        assertError(pickle, null, () -> TorchCheckpoint.open(pickle), "a bare pickle stream");
    }

    @ParameterizedTest
    @ValueSource(longs = {100, 1000, 2_000_000, 5_769_000, 5_769_744})
    void truncatedFileNamesTheFile(long keep) throws IOException {
        Path f = tmp.resolve("weights.pt");
        try (FileChannel in = FileChannel.open(GOLDEN.resolve("weights.pt"));
             FileChannel out = FileChannel.open(f, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            in.transferTo(0, keep, out);
        }
        assertError(f, null, () -> TorchCheckpoint.open(f), "truncated or corrupt zip");
    }

    @Test
    void corruptZips() throws IOException {
        byte[] junk = new byte[4096];
        new java.util.Random(1).nextBytes(junk);
        junk[0] = 'P'; junk[1] = 'K'; junk[2] = 3; junk[3] = 4;
        Path f = Files.write(tmp.resolve("junk.pt"), junk);
        assertError(f, null, () -> TorchCheckpoint.open(f), "no end of central directory record");

        // The central directory's first entry overwritten.
        byte[] good = Files.readAllBytes(fixture("fp16.pt"));
        byte[] bad = good.clone();
        int cd = indexOf(bad, new byte[]{'P', 'K', 1, 2}, 0);
        bad[cd + 2] = 9;
        Path g = Files.write(tmp.resolve("badcd.pt"), bad);
        assertError(g, null, () -> TorchCheckpoint.open(g), "corrupt zip: central directory entry 0");

        // A flipped byte inside data.pkl fails its CRC.
        bad = good.clone();
        int pkl = indexOf(bad, "_rebuild_tensor_v2".getBytes(UTF_8), 0);
        bad[pkl + 3] ^= 0x20;
        Path h = Files.write(tmp.resolve("badcrc.pt"), bad);
        assertError(h, null, () -> TorchCheckpoint.open(h), "zip entry 'fp16/data.pkl' is corrupt (CRC mismatch)");
    }

    @Test
    void entryRunningPastTheEndNamesTheTensor() throws IOException {
        // Local header of the storage of 0.weight claims a 64 KB extra field, so its data would start past EOF.
        byte[] b = Files.readAllBytes(fixture("fp16.pt"));
        int lh = localHeader(b, "fp16/data/0");
        b[lh + 28] = (byte) 0xff;
        b[lh + 29] = (byte) 0xff;
        Path f = Files.write(tmp.resolve("fp16.pt"), b);
        assertError(f, "0.weight", () -> TorchCheckpoint.open(f), "zip entry 'fp16/data/0' extends past the end of the file");
    }

    @Test
    void truncatedOrMissingStorageNamesTheTensor() throws IOException {
        Path shortStorage = tmp.resolve("fp16.pt");
        rezip(fixture("fp16.pt"), shortStorage, es -> map(es, "fp16/data/0", d -> Arrays.copyOf(d, d.length / 2)), false, false);
        assertError(shortStorage, "0.weight", () -> TorchCheckpoint.open(shortStorage),
                "storage too small / truncated: 'fp16/data/0' holds 12 bytes but the pickle declares 12 F16 elements (24 bytes)");

        Path missing = Files.createDirectories(tmp.resolve("m")).resolve("fp16.pt");
        rezip(fixture("fp16.pt"), missing, es -> map(es, "fp16/data/1", d -> null), false, false);
        assertError(missing, "0.bias", () -> TorchCheckpoint.open(missing), "storage 'fp16/data/1' is missing from the zip");

        Path longer = Files.createDirectories(tmp.resolve("l")).resolve("fp16.pt");
        rezip(fixture("fp16.pt"), longer, es -> map(es, "fp16/data/2", d -> Arrays.copyOf(d, d.length + 2)), false, false);
        assertError(longer, "1.weight", () -> TorchCheckpoint.open(longer), "holds 8 bytes but the pickle declares 3 F16 elements");
    }

    @Test
    void truncatedPickle() throws IOException {
        Path f = tmp.resolve("fp16.pt");
        rezip(fixture("fp16.pt"), f, es -> map(es, "fp16/data.pkl", d -> Arrays.copyOf(d, d.length / 2)), false, false);
        assertError(f, null, () -> TorchCheckpoint.open(f), "corrupt fp16/data.pkl");
    }

    @Test
    void byteOrderEntry() throws IOException {
        Path little = tmp.resolve("fp16.pt");
        rezip(fixture("fp16.pt"), little, es -> add(es, "fp16/byteorder", "little"), false, false);
        try (TorchCheckpoint ck = TorchCheckpoint.open(little)) {
            checkSmallModel(ck, DType.F16);
        }
        Path big = Files.createDirectories(tmp.resolve("b")).resolve("fp16.pt");
        rezip(fixture("fp16.pt"), big, es -> add(es, "fp16/byteorder", "big"), false, false);
        assertError(big, null, () -> TorchCheckpoint.open(big), "big-endian checkpoint");
    }

    // ---- zip variants ---------------------------------------------------------------------------------

    @Test
    void deflatedEntriesAreInflatedIntoNativeMemory() throws IOException {
        Path f = tmp.resolve("weights.pt");
        rezip(GOLDEN.resolve("weights.pt"), f, UnaryOperator.identity(), true, false);
        assertTrue(Files.size(f) < Files.size(GOLDEN.resolve("weights.pt")));
        try (TorchCheckpoint pt = TorchCheckpoint.open(f);
             SafeTensors st = SafeTensors.open(Golden.golden("adm-tiny/weights.safetensors"))) {
            assertEquals(List.copyOf(st.tensors().keySet()), List.copyOf(pt.stateDict().keySet()));
            for (Map.Entry<String, Tensor> e : st.tensors().entrySet()) {
                Tensor b = pt.get(e.getKey());
                assertEquals(e.getValue().shape(), b.shape());
                assertEquals(-1, e.getValue().data().mismatch(b.data()), e.getKey());
                assertFalse(b.data().isMapped());
            }
        }
    }

    @Test
    void zip64ExtraFieldsAndRecords() throws IOException {
        Path f = tmp.resolve("fp16.pt");
        rezip(fixture("fp16.pt"), f, UnaryOperator.identity(), false, true);
        try (TorchCheckpoint ck = TorchCheckpoint.open(f)) {
            checkSmallModel(ck, DType.F16);
        }
        Path d = Files.createDirectories(tmp.resolve("d")).resolve("fp16.pt");
        rezip(fixture("fp16.pt"), d, UnaryOperator.identity(), true, true);
        try (TorchCheckpoint ck = TorchCheckpoint.open(d)) {
            checkSmallModel(ck, DType.F16);
        }
    }

    @Test
    void storageBeyondFourGigabytes() throws IOException {
        // A sparse file: the storages sit after a 5 GiB hole, so offsets only fit the ZIP64 fields.
        Assumptions.assumeTrue(Files.getFileStore(tmp).getUsableSpace() > (6L << 30), "needs room for a 5 GiB (sparse) file");
        Path f = tmp.resolve("fp16.pt");
        List<Ent> es = new ArrayList<>(entries(fixture("fp16.pt")));
        int first = 0;
        while (!es.get(first).name().contains("/data/")) first++;
        es.set(first, new Ent(es.get(first).name(), es.get(first).data(), 5L << 30));
        writeZip(f, es, false, true);
        assertTrue(Files.size(f) > 5L << 30);
        try (TorchCheckpoint ck = TorchCheckpoint.open(f)) {
            checkSmallModel(ck, DType.F16);
        }
    }

    // ---- hand-made pickles: the restricted unpickler ------------------------------------------------------

    @Test
    void craftedOsSystemIsRefusedAndDoesNotRun() throws IOException {
        Path marker = tmp.resolve("pwned");
        byte[] pkl = new Pkl().op('}').op('(')
                .str("weight").global("os", "system").str("touch " + marker).op(0x85).op('R')
                .op('u').stop();
        Path f = torchZip(tmp, "evil", pkl, Map.of());
        assertError(f, null, () -> TorchCheckpoint.open(f),
                "refusing to load: the pickle references global 'os.system', which a state dict never needs");
        assertFalse(Files.exists(marker));
    }

    @ParameterizedTest
    @ValueSource(strings = {"builtins eval", "__builtin__ getattr", "builtins exec", "posix system", "subprocess Popen",
            "numpy.core.multiarray _reconstruct", "torch load", "torch._utils _rebuild_tensor_v2x", "collections defaultdict",
            "torch.storage UntypedStorage"})
    void otherGlobalsAreRefused(String global) throws IOException {
        Path marker = tmp.resolve("pwned");
        String[] mn = global.split(" ");
        // Protocol 4 STACK_GLOBAL after a genuine tensor, so the refusal is not just of a first opcode.
        Pkl p = new Pkl(4).op('}').op('(')
                .str("ok").tensor("FloatStorage", "0", 2, 0, new long[]{2}, new long[]{1})
                .str("bad").str(mn[0]).str(mn[1]).op(0x93).str("open('" + marker + "', 'w')").op(0x85).op('R')
                .op('u');
        Path f = torchZip(tmp, "evil", p.stop(), Map.of("0", new byte[8]));
        assertError(f, null, () -> TorchCheckpoint.open(f), "refusing to load: the pickle references global '"
                + mn[0] + "." + mn[1] + "', which a state dict never needs");
        assertFalse(Files.exists(marker));
    }

    @Test
    void instantiatingOpcodesAreNotSupported() throws IOException {
        Path marker = tmp.resolve("pwned");
        // Protocol 0/1 INST and OBJ create instances directly: never interpreted.
        byte[] inst = new Pkl().op('(').str("touch " + marker).raw("ios\nsystem\n").stop();
        Path f = torchZip(tmp, "inst", inst, Map.of());
        assertError(f, null, () -> TorchCheckpoint.open(f), "pickle opcode 0x69 ('i')");
        byte[] obj = new Pkl().op('(').global("collections", "OrderedDict").op('o').stop();
        Path g = torchZip(tmp, "obj", obj, Map.of());
        assertError(g, null, () -> TorchCheckpoint.open(g), "pickle opcode 0x6f ('o')");
        // Calling a (whitelisted) storage type is not something torch.save ever writes.
        byte[] call = new Pkl().global("torch", "FloatStorage").op(')').op('R').stop();
        Path h = torchZip(tmp, "call", call, Map.of());
        assertError(h, null, () -> TorchCheckpoint.open(h), "refusing to load: the pickle calls 'torch.FloatStorage'");
        // BUILD is only accepted on dicts (the OrderedDict _metadata).
        byte[] build = new Pkl().str("x").op('}').op('b').stop();
        Path k = torchZip(tmp, "build", build, Map.of());
        assertError(k, null, () -> TorchCheckpoint.open(k), "BUILD on 'x' is not supported");
        assertFalse(Files.exists(marker));
    }

    @Test
    void orderedDictMetadataAndProtocolFiveOpcodes() throws IOException {
        // OrderedDict via STACK_GLOBAL + MEMOIZE + FRAME, _metadata set by BUILD, BINUNICODE8/SHORT_BINUNICODE keys.
        Pkl p = new Pkl(5).op(0x95).raw(new byte[8])
                .op(0x8c).op(11).raw("collections").op(0x94).op(0x8c).op(11).raw("OrderedDict").op(0x94).op(0x93).op(0x94)
                .op(')').op('R').op(0x94)
                .op(0x8d).raw(le64(1)).raw("a").tensor("DoubleStorage", "7", 3, 1, new long[]{2}, new long[]{1}).op('s')
                .op('}').str("_metadata").op('}').str("").op('}').str("version").op('K').op(1).op('s').op('s').op('s')
                .op('b');
        byte[] data = new byte[24];
        ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN).putDouble(0.5).putDouble(-1.25).putDouble(2.0);
        Path f = torchZip(tmp, "archive", p.stop(), Map.of("7", data));
        try (TorchCheckpoint ck = TorchCheckpoint.open(f)) {
            assertEquals(List.of("a"), List.copyOf(ck.stateDict().keySet()));
            assertArrayEquals(new double[]{-1.25, 2.0}, ck.get("a").toDoubleArray());
        }
    }

    @Test
    void selfContainingListAsKeyIsRejectedNotHashedForever() throws IOException {
        // d[(L,)] = 1 where L.append(L): Python refuses the unhashable key; hashing it would recurse forever.
        byte[] pkl = new Pkl().op('}').op(']').op('q').op(0).op('h').op(0).op('a').op(0x85).op('K').op(1).op('s').stop();
        Path f = torchZip(tmp, "cyclic", pkl, Map.of());
        assertError(f, null, () -> TorchCheckpoint.open(f), "unhashable dict key a list of 1");
    }

    @Test
    void storageExtentIsChecked() throws IOException {
        byte[] pkl = new Pkl().op('}').str("w").tensor("FloatStorage", "0", 4, 1, new long[]{2, 2}, new long[]{2, 1}).op('s').stop();
        Path f = torchZip(tmp, "ext", pkl, Map.of("0", new byte[16]));
        assertError(f, "w", () -> TorchCheckpoint.open(f), "storage too small / truncated: elements [1, 5) of a storage of 4");
    }

    @Test
    void choosingAmongNestedStateDicts() throws IOException {
        Pkl p = new Pkl().op('}').op('(')
                .str("model").op('}').str("w").tensor("FloatStorage", "0", 1, 0, new long[]{1}, new long[]{1}).op('s')
                .str("ema").op('}').str("w").tensor("FloatStorage", "1", 1, 0, new long[]{1}, new long[]{1}).op('s')
                .str("step").op('J').raw(le32(100_000))
                .op('u');
        byte[] one = new byte[4], two = new byte[4];
        ByteBuffer.wrap(one).order(ByteOrder.LITTLE_ENDIAN).putFloat(1f);
        ByteBuffer.wrap(two).order(ByteOrder.LITTLE_ENDIAN).putFloat(2f);
        Path f = torchZip(tmp, "ck", p.stop(), Map.of("0", one, "1", two));
        assertError(f, null, () -> TorchCheckpoint.open(f), "several state dicts, under [model, ema]");
        try (TorchCheckpoint ck = TorchCheckpoint.open(f, "ema")) {
            assertEquals(2f, ck.get("w").getFloat(0));
            assertEquals("ema", ck.stateDictKey());
            assertEquals(List.of("model", "step"), ck.ignoredEntries());
        }
        assertError(f, null, () -> TorchCheckpoint.open(f, "optimizer"), "no dict under top-level key 'optimizer' (top-level keys: ['model', 'ema', 'step'])");

        byte[] none = new Pkl().op('}').str("epoch").op('K').op(3).op('s')
                .str("optimizer").op('}').str("lr").op('K').op(1).op('s').op('s').stop();
        Path g = torchZip(tmp, "none", none, Map.of());
        assertError(g, null, () -> TorchCheckpoint.open(g), "no state dict found: the top-level dict holds no tensors and none of "
                + "[state_dict, model_state_dict, model, module, ema, net] is a dict of tensors (top-level keys: ['epoch', 'optimizer'])");
        assertError(g, null, () -> TorchCheckpoint.open(g, "optimizer"), "the dict under top-level key 'optimizer' holds no tensors");
        byte[] list = new Pkl().op(']').stop();
        Path h = torchZip(tmp, "list", list, Map.of());
        assertError(h, null, () -> TorchCheckpoint.open(h), "the checkpoint holds a list of 0, not a state dict");
    }

    @Test
    void modulePrefixIsOnlyStrippedWhenEveryTensorHasIt() throws IOException {
        Pkl p = new Pkl().op('}').op('(')
                .str("module.a").tensor("FloatStorage", "0", 1, 0, new long[]{}, new long[]{})
                .str("b").tensor("FloatStorage", "0", 1, 0, new long[]{}, new long[]{})
                .op('u');
        Path f = torchZip(tmp, "mixed", p.stop(), Map.of("0", new byte[4]));
        try (TorchCheckpoint ck = TorchCheckpoint.open(f)) {
            assertEquals(List.of("module.a", "b"), List.copyOf(ck.stateDict().keySet()));
        }
    }

    // ---- the façade ------------------------------------------------------------------------------------------

    @Test
    void checkpointsChoosesByContent() throws IOException {
        try (StateDict sd = Checkpoints.open(fixture("fp16.pt"))) {
            assertInstanceOf(TorchCheckpoint.class, sd);
            assertEquals(4, sd.tensors().size());
        }
        try (StateDict sd = Checkpoints.open(Golden.golden("adm-tiny/weights.safetensors"))) {
            assertInstanceOf(SafeTensors.class, sd);
            assertEquals(216, sd.tensors().size());
        }
        // The name does not matter.
        Path renamed = Files.copy(fixture("fp16.pt"), tmp.resolve("weights.safetensors"));
        try (StateDict sd = Checkpoints.open(renamed)) {
            assertInstanceOf(TorchCheckpoint.class, sd);
            assertSame(renamed, sd.file());
        }
    }

    // ---- helpers ------------------------------------------------------------------------------------------------

    private static void assertError(Path file, String key, org.junit.jupiter.api.function.Executable open, String expected) {
        CheckpointException e = assertThrows(CheckpointException.class, open);
        assertEquals(file, e.file());
        assertEquals(key, e.key());
        assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
        if (key != null) assertTrue(e.getMessage().contains("'" + key + "'"), e.getMessage());
        assertTrue(e.getMessage().contains(expected), "expected '" + expected + "' in: " + e.getMessage());
    }

    private static Path fixture(String name) {
        try {
            return Path.of(TorchCheckpointTest.class.getResource("/torch/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }
}
