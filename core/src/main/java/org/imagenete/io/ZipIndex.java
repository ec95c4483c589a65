package org.imagenete.io;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * The central directory of a zip file that is already memory-mapped, read by hand (End of central
 * directory record, ZIP64 locator / record / extra fields) so that entries of a multi-gigabyte
 * checkpoint become slices of the one mapping instead of streams copied into the heap.
 * Every problem is a {@link CheckpointException} naming the file (and the tensor, where the caller
 * passes one).
 */
final class ZipIndex {
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    static final int LOCAL_HEADER_SIG = 0x04034b50;
    static final int CENTRAL_HEADER_SIG = 0x02014b50;
    static final int EOCD_SIG = 0x06054b50;
    static final int ZIP64_EOCD_SIG = 0x06064b50;
    static final int ZIP64_LOCATOR_SIG = 0x07064b50;
    private static final int EOCD_SIZE = 22;
    private static final int MAX_COMMENT = 0xffff;
    private static final long U32_MAX = 0xffffffffL;
    private static final int METHOD_STORED = 0;
    private static final int METHOD_DEFLATED = 8;
    private static final long MAX_DEFLATE_RATIO = 1032;
    /** ByteBuffer views of a segment are limited to 2 GB: inflate in chunks. */
    private static final int CHUNK = 1 << 30;
    private static final Charset CP437 = Charset.forName("IBM437");

    /** One central directory entry. Sizes and offsets are already widened by the ZIP64 extra field. */
    record Entry(String name, int flags, int method, int crc, long compressedSize, long size, long localHeaderOffset) {}

    private final Path file;
    private final MemorySegment all;
    private final Map<String, Entry> entries;

    private ZipIndex(Path file, MemorySegment all, Map<String, Entry> entries) {
        this.file = file;
        this.all = all;
        this.entries = entries;
    }

    /** Entries in central directory order. */
    Collection<Entry> entries() { return entries.values(); }

    /** The entry named exactly {@code name}, or null. */
    Entry get(String name) { return entries.get(name); }

    /** Reads and checks the central directory of the mapped file {@code all}. */
    static ZipIndex read(Path file, MemorySegment all) {
        long size = all.byteSize();
        long eocd = findEocd(all);
        if (eocd < 0)
            throw new CheckpointException(file, null, "truncated or corrupt zip: no end of central directory record in the last "
                    + Math.min(size, EOCD_SIZE + MAX_COMMENT) + " bytes of " + size + " (was the file cut short while copying?)");
        long count = u16(all, eocd + 10);
        long cdSize = u32(all, eocd + 12);
        long cdOffset = u32(all, eocd + 16);
        long cdLimit = eocd;
        // A ZIP64 locator sits just before the EOCD record; torch always writes one.
        if (eocd >= 20 && all.get(U32, eocd - 20) == ZIP64_LOCATOR_SIG) {
            long z64 = all.get(U64, eocd - 20 + 8);
            if (z64 < 0 || z64 > eocd - 20 - 56 || all.get(U32, z64) != ZIP64_EOCD_SIG)
                throw new CheckpointException(file, null, "corrupt zip: the ZIP64 end of central directory locator points to "
                        + z64 + ", where there is no ZIP64 end of central directory record");
            count = all.get(U64, z64 + 32);
            cdSize = all.get(U64, z64 + 40);
            cdOffset = all.get(U64, z64 + 48);
            cdLimit = z64;
        } else if (count == 0xffff || cdSize == U32_MAX || cdOffset == U32_MAX) {
            throw new CheckpointException(file, null, "corrupt zip: the end of central directory record needs a ZIP64 record, which is missing");
        }
        if (cdOffset < 0 || cdSize < 0 || count < 0 || cdOffset > cdLimit || cdSize > cdLimit - cdOffset)
            throw new CheckpointException(file, null, "truncated or corrupt zip: central directory [" + cdOffset + ", +" + cdSize
                    + ") does not fit before its end record at " + cdLimit);
        if (count > cdSize / 46)
            throw new CheckpointException(file, null, "corrupt zip: " + count + " entries cannot fit in a central directory of " + cdSize + " bytes");

        Map<String, Entry> entries = new LinkedHashMap<>();
        long p = cdOffset, end = cdOffset + cdSize;
        for (long i = 0; i < count; i++) {
            if (end - p < 46 || all.get(U32, p) != CENTRAL_HEADER_SIG)
                throw new CheckpointException(file, null, "corrupt zip: central directory entry " + i + " at offset " + p + " is damaged");
            int flags = u16(all, p + 8);
            int method = u16(all, p + 10);
            int crc = all.get(U32, p + 16);
            long csize = u32(all, p + 20);
            long usize = u32(all, p + 24);
            int nameLen = u16(all, p + 28), extraLen = u16(all, p + 30), commentLen = u16(all, p + 32);
            int disk = u16(all, p + 34);
            long local = u32(all, p + 42);
            long next = p + 46 + nameLen + extraLen + commentLen;
            if (next > end)
                throw new CheckpointException(file, null, "corrupt zip: central directory entry " + i + " runs past the directory's end");
            byte[] nb = all.asSlice(p + 46, nameLen).toArray(ValueLayout.JAVA_BYTE);
            String name = new String(nb, (flags & 0x800) != 0 ? StandardCharsets.UTF_8 : CP437);
            // ZIP64 extended information: only the fields whose 32-bit value is saturated, in this order.
            long x = p + 46 + nameLen, xEnd = x + extraLen;
            while (xEnd - x >= 4) {
                int id = u16(all, x), len = u16(all, x + 2);
                long d = x + 4;
                if (d + len > xEnd)
                    throw new CheckpointException(file, null, "corrupt zip: bad extra field in the directory entry of '" + name + "'");
                if (id == 0x0001) {
                    long q = d, qEnd = d + len;
                    if (usize == U32_MAX) { usize = zip64Field(file, all, name, q, qEnd); q += 8; }
                    if (csize == U32_MAX) { csize = zip64Field(file, all, name, q, qEnd); q += 8; }
                    if (local == U32_MAX) { local = zip64Field(file, all, name, q, qEnd); q += 8; }
                    if (disk == 0xffff) { if (qEnd - q < 4) throw badZip64(file, name); disk = all.get(U32, q); }
                }
                x = d + len;
            }
            if (disk != 0)
                throw new CheckpointException(file, null, "multi-part (split) zip archives are not supported ('" + name + "')");
            if (usize < 0 || csize < 0 || local < 0)
                throw new CheckpointException(file, null, "corrupt zip: negative size or offset for '" + name + "'");
            if (entries.putIfAbsent(name, new Entry(name, flags, method, crc, csize, usize, local)) != null)
                throw new CheckpointException(file, null, "corrupt zip: entry '" + name + "' appears twice");
            p = next;
        }
        return new ZipIndex(file, all, Collections.unmodifiableMap(entries));
    }

    private static long zip64Field(Path file, MemorySegment all, String name, long q, long qEnd) {
        if (qEnd - q < 8) throw badZip64(file, name);
        return all.get(U64, q);
    }

    private static CheckpointException badZip64(Path file, String name) {
        return new CheckpointException(file, null, "corrupt zip: ZIP64 extra field of '" + name + "' is too short");
    }

    /** Offset of the EOCD record whose comment ends exactly at the end of the file, or -1. */
    private static long findEocd(MemorySegment all) {
        long size = all.byteSize();
        long stop = Math.max(0, size - EOCD_SIZE - MAX_COMMENT);
        for (long p = size - EOCD_SIZE; p >= stop; p--) {
            if (all.get(U32, p) == EOCD_SIG && p + EOCD_SIZE + u16(all, p + 20) == size) return p;
        }
        return -1;
    }

    /** Where the entry's (possibly compressed) bytes start, after checking its local header and extent. */
    private long dataStart(Entry e, String key) {
        long size = all.byteSize();
        long h = e.localHeaderOffset();
        if (h > size - 30 || all.get(U32, h) != LOCAL_HEADER_SIG)
            throw new CheckpointException(file, key, "zip entry '" + e.name() + "': no local header at offset " + h
                    + (h > size - 30 ? " (past the end of the " + size + "-byte file: truncated?)" : " (corrupt file)"));
        // The local name and extra lengths may differ from the central ones (torch pads the local extra
        // field so that tensor data is 64-byte aligned): read them here.
        long start = h + 30 + u16(all, h + 26) + u16(all, h + 28);
        if (start > size || e.compressedSize() > size - start)
            throw new CheckpointException(file, key, "zip entry '" + e.name() + "' extends past the end of the file (bytes ["
                    + start + ", " + (start + e.compressedSize()) + ") of a " + size + "-byte file): truncated?");
        return start;
    }

    private void checkReadable(Entry e, String key) {
        if ((e.flags() & 1) != 0)
            throw new CheckpointException(file, key, "zip entry '" + e.name() + "' is encrypted");
        if (e.method() != METHOD_STORED && e.method() != METHOD_DEFLATED)
            throw new CheckpointException(file, key, "zip entry '" + e.name() + "' uses compression method " + e.method()
                    + " (only stored and deflated entries are supported; torch.save writes stored entries)");
        // deflate expands at most 1032:1 (258-byte matches in 2-bit codes): a larger declared size is a lie
        if (e.method() == METHOD_DEFLATED && (e.size() - 1024) / MAX_DEFLATE_RATIO > e.compressedSize())
            throw new CheckpointException(file, key, "corrupt zip: deflated entry '" + e.name() + "' declares " + e.size()
                    + " bytes from " + e.compressedSize() + ", more than deflate can expand to");
        if (e.method() == METHOD_STORED && e.compressedSize() != e.size())
            throw new CheckpointException(file, key, "corrupt zip: stored entry '" + e.name() + "' has compressed size "
                    + e.compressedSize() + " but size " + e.size());
    }

    /**
     * The entry's bytes. A stored entry (what torch.save writes) is a slice of the mapping, no copy and no
     * CRC pass (that would read a multi-gigabyte file up front). A deflated entry (a checkpoint re-zipped by
     * another tool) is inflated into native memory from {@code arena} and its CRC checked: only tensor data
     * takes this path; the small pickle uses {@link #bytes}.
     */
    MemorySegment data(Entry e, String key, Arena arena) {
        checkReadable(e, key);
        long start = dataStart(e, key);
        MemorySegment src = all.asSlice(start, e.compressedSize());
        if (e.method() == METHOD_STORED) return src;
        MemorySegment dst = arena.allocate(Math.max(1, e.size()), 64).asSlice(0, e.size());
        inflate(e, key, src, dst);
        return dst;
    }

    /** A heap copy of a small entry (data.pkl, byteorder, version), CRC-checked. */
    byte[] bytes(Entry e, String key, long max) {
        if (e.size() > max)
            throw new CheckpointException(file, key, "zip entry '" + e.name() + "' is implausibly large (" + e.size() + " bytes)");
        checkReadable(e, key);
        long start = dataStart(e, key);
        byte[] out;
        if (e.method() == METHOD_STORED) {
            out = all.asSlice(start, e.size()).toArray(ValueLayout.JAVA_BYTE);
            CRC32 crc = new CRC32();
            crc.update(out);
            if ((int) crc.getValue() != e.crc())
                throw new CheckpointException(file, key, "zip entry '" + e.name() + "' is corrupt (CRC mismatch)");
        } else {
            out = new byte[(int) e.size()];
            inflate(e, key, all.asSlice(start, e.compressedSize()), MemorySegment.ofArray(out));
        }
        return out;
    }

    private void inflate(Entry e, String key, MemorySegment src, MemorySegment dst) {
        Inflater inf = new Inflater(true);
        CRC32 crc = new CRC32();
        try {
            long in = 0, out = 0, total = dst.byteSize();
            byte[] scratch = new byte[1];
            while (!inf.finished()) {
                if (inf.needsInput()) {
                    if (in >= src.byteSize())
                        throw new CheckpointException(file, key, "zip entry '" + e.name() + "' inflates to only " + out
                                + " of its " + total + " bytes (truncated or corrupt)");
                    int n = (int) Math.min(CHUNK, src.byteSize() - in);
                    inf.setInput(src.asSlice(in, n).asByteBuffer());
                    in += n;
                }
                long readBefore = inf.getBytesRead();
                int k;
                if (out < total) {
                    k = inf.inflate(dst.asSlice(out, Math.min(CHUNK, total - out)).asByteBuffer());
                    if (k > 0) crc.update(dst.asSlice(out, k).asByteBuffer());
                    out += k;
                } else if ((k = inf.inflate(scratch)) > 0) {
                    throw new CheckpointException(file, key, "zip entry '" + e.name() + "' holds more than its declared "
                            + total + " bytes (corrupt)");
                }
                if (k == 0 && !inf.finished() && !inf.needsInput() && (inf.needsDictionary() || inf.getBytesRead() == readBefore))
                    throw new CheckpointException(file, key, "zip entry '" + e.name() + "': corrupt deflate stream");
            }
            if (out != total)
                throw new CheckpointException(file, key, "zip entry '" + e.name() + "' inflates to " + out + " bytes, expected "
                        + total + " (corrupt)");
            if ((int) crc.getValue() != e.crc())
                throw new CheckpointException(file, key, "zip entry '" + e.name() + "' is corrupt (CRC mismatch)");
        } catch (DataFormatException ex) {
            throw new CheckpointException(file, key, "zip entry '" + e.name() + "': corrupt deflate stream: " + ex.getMessage(), ex);
        } finally {
            inf.end();
        }
    }

    private static int u16(MemorySegment s, long p) { return s.get(U16, p) & 0xffff; }

    private static long u32(MemorySegment s, long p) { return s.get(U32, p) & U32_MAX; }
}
