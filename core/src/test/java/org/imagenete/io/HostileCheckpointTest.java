package org.imagenete.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.imagenete.io.TorchFiles.Pkl;
import static org.imagenete.io.TorchFiles.le32;
import static org.imagenete.io.TorchFiles.torchZip;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Checkpoints crafted to hang, exhaust the stack or the heap: each is refused with one line naming the file, within
 * seconds, whatever it asks for.
 */
class HostileCheckpointTest {
    @TempDir Path tmp;

    /** Opens the file, expecting a refusal that mentions {@code expected}; returns the seconds it took. */
    private static double refused(Path f, String expected) {
        long t0 = System.nanoTime();
        CheckpointException e = assertThrows(CheckpointException.class, () -> TorchCheckpoint.open(f).close());
        double s = (System.nanoTime() - t0) / 1e9;
        assertTrue(e.getMessage().startsWith(f.toString()), e.getMessage());
        assertTrue(e.getMessage().contains(expected), "expected '" + expected + "' in: " + e.getMessage());
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        assertTrue(s < 10, "took " + s + " s");
        return s;
    }

    /** A tensor "w" of one float, then {@code rest}'s opcodes as more entries of the top dict, then STOP. */
    private Path withTensor(String name, Pkl body) throws IOException {
        return torchZip(tmp, name, body.stop(), Map.of("0", new byte[4]));
    }

    private static Pkl startDict() {
        return new Pkl().op('}').str("w").tensor("FloatStorage", "0", 1, 0, new long[]{1}, new long[]{1}).op('s');
    }

    /** Level i = (level i-1, level i-1) through the memo: 2^levels leaves in 3 bytes per level. */
    private static Pkl dag(Pkl p, int levels) {
        p.str("x").op('r').raw(le32(0)).op('0');
        for (int i = 1; i <= levels; i++)
            p.op('j').raw(le32(i - 1)).op('j').raw(le32(i - 1)).op(0x86).op('r').raw(le32(i)).op('0');
        return p.op('j').raw(le32(levels));
    }

    @Test
    void tupleKeyBuiltAsADagIsRefusedAtOnce() throws IOException {
        // 32 levels took over 90 s to hash before; now refused when used as a key
        Path f = withTensor("dag", dag(startDict(), 32).op('K').op(1).op('s'));
        double s = refused(f, "dict key is a tuple nested 32 deep (a checkpoint's dict keys are strings or numbers");
        System.err.printf("DAG key refused in %.3f s%n", s);
    }

    @Test
    void dagAsAValueIsNeverWalked() throws IOException {
        // the same structure 60 levels deep as an ignored value: nothing recurses into values
        Path f = withTensor("dagvalue", dag(startDict().str("meta"), 60).op('s'));
        long t0 = System.nanoTime();
        try (TorchCheckpoint ck = TorchCheckpoint.open(f)) {
            assertEquals(List.of("meta"), ck.ignoredEntries());
            assertEquals(1, ck.stateDict().size());
        }
        assertTrue((System.nanoTime() - t0) / 1e9 < 5);
    }

    @Test
    void hundredThousandNestedTuplesAreOneLineNotAStackOverflow() throws IOException {
        Pkl p = startDict().str("x");
        for (int i = 0; i < 100_000; i++) p.op(0x85);   // TUPLE1
        refused(withTensor("deep", p.op('K').op(1).op('s')), "tuples nested over 1000 deep");
        // the same depth of lists as a value loads: lists are never walked
        Pkl q = startDict().str("lists").op(']').op('r').raw(le32(0)).op('0');
        for (int i = 1; i <= 100_000; i++) q.op(']').op('j').raw(le32(i - 1)).op('a').op('r').raw(le32(i)).op('0');
        q.op('j').raw(le32(100_000)).op('s');
        try (TorchCheckpoint ck = TorchCheckpoint.open(withTensor("deeplists", q))) {
            assertEquals(List.of("lists"), ck.ignoredEntries());
        }
        // and a nested list as a key is unhashable, as in Python
        Pkl r = startDict().op(']').op(']').op('a').op('K').op(1).op('s');
        refused(withTensor("listkey", r), "unhashable dict key a list of 1");
    }

    @Test
    void copyingOneDictAgainAndAgainIsCutOff() throws IOException {
        // a dict of 100,000 entries, then OrderedDict(d) 100,000 times: 10^10 copies from a 1.3 MB pickle
        Pkl p = new Pkl().global("collections", "OrderedDict").op('r').raw(le32(1)).op('0').op('}').op('(');
        for (int i = 0; i < 100_000; i++) p.op('J').raw(le32(i)).op('N');
        p.op('u').op('r').raw(le32(0)).op('0');
        for (int i = 0; i < 100_000; i++) p.op('j').raw(le32(1)).op('j').raw(le32(0)).op(0x85).op('R').op('0');
        double s = refused(torchZip(tmp, "copies", p.op('}').stop(), Map.of()), "steps of work for its");
        System.err.printf("repeated copies refused in %.3f s%n", s);
    }

    @Test
    void tupleKeysStayFlatAndBounded() throws IOException {
        // flat tuples of plain values are fine as keys (and collisions cannot make inserting them quadratic)
        Pkl ok = startDict().op('(').str("a").op('K').op(1).op('N').op(0x88).op('t').op('K').op(2).op('s');
        try (TorchCheckpoint ck = TorchCheckpoint.open(withTensor("flat", ok))) {
            assertEquals(List.of("[a, 1, null, true]"), ck.ignoredEntries());
        }
        Pkl wide = startDict().op('(');
        for (int i = 0; i < 33; i++) wide.op('K').op(i);
        refused(withTensor("wide", wide.op('t').op('K').op(1).op('s')), "at most 32 plain values in a tuple key");
    }

    // ---- zip bombs ---------------------------------------------------------------------------------------

    /** A zip holding a deflated data.pkl of a real pickle followed by {@code padding} zero bytes (ignored after STOP). */
    private Path deflatedPickle(String name, int padding) throws IOException {
        byte[] pkl = startDict().stop();
        byte[] padded = java.util.Arrays.copyOf(pkl, pkl.length + padding);
        Path f = Files.createDirectories(tmp.resolve(name)).resolve(name + ".pt");
        TorchFiles.writeZip(f, List.of(new TorchFiles.Ent(name + "/data.pkl", padded), new TorchFiles.Ent(name + "/data/0", new byte[4])),
                true, false);
        return f;
    }

    @Test
    void aPickleLargerThanAnyStateDictNeedsIsRefusedBeforeInflating() throws IOException {
        Path f = deflatedPickle("bomb", 64 << 20);
        assertTrue(Files.size(f) < 200_000, "64 MiB of zeros deflate to " + Files.size(f));
        long before = usedHeap();
        refused(f, "refusing to load: bomb/data.pkl declares " + ((64 << 20) + startDict().stop().length) + " bytes");
        assertTrue(usedHeap() - before < 32 << 20, "nothing was inflated");
        // the same small enough: loads
        try (TorchCheckpoint ck = TorchCheckpoint.open(deflatedPickle("fine", 1 << 20))) {
            assertEquals(1, ck.stateDict().size());
        }
    }

    @Test
    void declaredSizesThatLieAreCaught() throws IOException {
        // data.pkl declaring 1.1 GB from a few hundred bytes: more than deflate can produce
        Path big = deflatedPickle("liar", 0);
        patchDeclaredSize(big, "liar/data.pkl", 1_100_000_000L);
        refused(big, "declares 1100000000 bytes");
        Path storage = deflatedPickle("liar2", 0);
        patchDeclaredSize(storage, "liar2/data/0", 4_000_000_000L);
        CheckpointException e = assertThrows(CheckpointException.class, () -> TorchCheckpoint.open(storage).close());
        assertTrue(e.getMessage().contains("more than deflate can expand to")
                || e.getMessage().contains("holds 4000000000 bytes but the pickle declares 1"), e.getMessage());
        // declaring less than the stream holds: inflating stops at the declared size
        Path small = deflatedPickle("short", 64 << 20);
        patchDeclaredSize(small, "short/data.pkl", 1000);
        refused(small, "holds more than its declared 1000 bytes");
    }

    private static long usedHeap() {
        Runtime r = Runtime.getRuntime();
        return r.totalMemory() - r.freeMemory();
    }

    /** Rewrites the uncompressed size of {@code name} in the central directory (a zip that lies). */
    private static void patchDeclaredSize(Path zip, String name, long size) throws IOException {
        byte[] b = Files.readAllBytes(zip);
        byte[] sig = {'P', 'K', 1, 2};
        for (int i = TorchFiles.indexOf(b, sig, 0); ; i = TorchFiles.indexOf(b, sig, i + 1)) {
            int n = (b[i + 28] & 0xff) | (b[i + 29] & 0xff) << 8;
            if (new String(b, i + 46, n, StandardCharsets.UTF_8).equals(name)) {
                ByteBuffer.wrap(b, i + 24, 4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) size);
                break;
            }
        }
        Files.write(zip, b);
    }
}
