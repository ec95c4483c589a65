package org.imagenete.io;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The regular-file members of a tar archive (a WebDataset shard) with their byte ranges, read from the headers only:
 * a reader seeks to a member instead of streaming the archive. Understands what Python's {@code tarfile} and GNU tar
 * write: ustar names with a prefix, GNU long names ({@code L}), pax extended headers ({@code x}: {@code path},
 * {@code size}), base-256 sizes. Directories, links and global headers are passed over. Every problem (a header
 * whose checksum does not add up, a member that runs past the end of the file) is an {@link IllegalArgumentException}
 * naming the file, the byte offset and the member.
 */
public final class TarIndex {
    private static final int BLOCK = 512;

    /** A regular file inside the archive: its full name and where its bytes are. */
    public record Member(String name, long offset, long size) {}

    private TarIndex() {}

    /** The archive's regular files, in archive order. */
    public static List<Member> read(Path tar) {
        try (FileChannel ch = FileChannel.open(tar, StandardOpenOption.READ)) {
            long length = ch.size();
            List<Member> out = new ArrayList<>();
            ByteBuffer h = ByteBuffer.allocate(BLOCK);
            String longName = null, paxPath = null;
            long paxSize = -1;
            long pos = 0;
            while (pos + BLOCK <= length) {
                readFully(ch, h, pos, tar);
                byte[] b = h.array();
                if (zero(b)) break;   // end of archive: two zero blocks (one is enough to stop)
                checkSum(b, pos, tar);
                char type = (char) b[156];
                boolean meta = type == 'L' || type == 'x' || type == 'g';
                // a pax or GNU long-name header describes the member that follows it
                long size = !meta && paxSize >= 0 ? paxSize : number(b, 124, 12, pos, tar);
                String name = meta ? name(b) : paxPath != null ? paxPath : longName != null ? longName : name(b);
                long data = pos + BLOCK;
                if (data + size > length)
                    throw new IllegalArgumentException(tar + ": member '" + name + "' at byte " + pos + " needs " + size
                            + " bytes but the file ends after " + (length - data) + " (truncated shard?)");
                switch (type) {
                    case 'L' -> longName = cString(bytes(ch, data, size, tar));
                    case 'g' -> { }
                    case 'x' -> {
                        for (String[] kv : pax(bytes(ch, data, size, tar), pos, tar)) {
                            if (kv[0].equals("path")) paxPath = kv[1];
                            if (kv[0].equals("size")) paxSize = paxNumber(kv[1], pos, tar);
                        }
                    }
                    default -> {
                        if (type == '0' || type == '\0' || type == '7') out.add(new Member(name, data, size));
                        longName = null;
                        paxPath = null;
                        paxSize = -1;
                    }
                }
                pos = data + (size + BLOCK - 1) / BLOCK * BLOCK;
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(tar + ": " + e.getMessage(), e);
        }
    }

    /** The bytes of one member. */
    public static byte[] bytes(Path tar, Member m) {
        try (FileChannel ch = FileChannel.open(tar, StandardOpenOption.READ)) {
            return bytes(ch, m.offset(), m.size(), tar);
        } catch (IOException e) {
            throw new UncheckedIOException(tar + ": " + m.name() + ": " + e.getMessage(), e);
        }
    }

    private static byte[] bytes(FileChannel ch, long offset, long size, Path tar) throws IOException {
        if (size > Integer.MAX_VALUE - 8) throw new IllegalArgumentException(tar + ": a member of " + size + " bytes at " + offset + " is too large");
        ByteBuffer buf = ByteBuffer.allocate((int) size);
        readFully(ch, buf, offset, tar);
        return buf.array();
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long pos, Path tar) throws IOException {
        buf.clear();
        while (buf.hasRemaining()) {
            int n = ch.read(buf, pos + buf.position());
            if (n < 0) throw new IllegalArgumentException(tar + ": truncated at byte " + (pos + buf.position()));
        }
    }

    private static boolean zero(byte[] b) {
        for (byte x : b) if (x != 0) return false;
        return true;
    }

    /** The header checksum: the sum of its bytes with the checksum field read as spaces. */
    private static void checkSum(byte[] b, long pos, Path tar) {
        long want = number(b, 148, 8, pos, tar), sum = 0;
        for (int i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? ' ' : b[i] & 0xff;
        if (sum != want)
            throw new IllegalArgumentException(tar + ": not a tar file, or a corrupt header at byte " + pos + " (checksum " + want
                    + ", bytes add up to " + sum + ")");
    }

    /** ustar: prefix "/" name when the magic says ustar and the prefix is set. */
    private static String name(byte[] b) {
        String name = cString(b, 0, 100);
        boolean ustar = b[257] == 'u' && b[258] == 's' && b[259] == 't' && b[260] == 'a' && b[261] == 'r';
        String prefix = ustar ? cString(b, 345, 155) : "";
        return prefix.isEmpty() ? name : prefix + "/" + name;
    }

    /** An octal field (NUL or space terminated), or GNU base-256 when the high bit of the first byte is set. */
    private static long number(byte[] b, int off, int len, long pos, Path tar) {
        if ((b[off] & 0x80) != 0) {
            long v = b[off] & 0x7f;
            for (int i = 1; i < len; i++) v = (v << 8) | (b[off + i] & 0xff);
            return v;
        }
        long v = 0;
        boolean any = false;
        for (int i = off; i < off + len; i++) {
            int c = b[i];
            if (c == 0 || (c == ' ' && any)) break;
            if (c == ' ') continue;
            if (c < '0' || c > '7')
                throw new IllegalArgumentException(tar + ": not a tar file, or a corrupt header at byte " + pos + " (a numeric field holds '"
                        + cString(b, off, len).strip() + "')");
            v = v * 8 + (c - '0');
            any = true;
        }
        return v;
    }

    /** pax records "LEN key=value\n". */
    private static List<String[]> pax(byte[] d, long pos, Path tar) {
        List<String[]> out = new ArrayList<>();
        int i = 0;
        while (i < d.length && d[i] != 0) {
            int sp = i;
            while (sp < d.length && d[sp] != ' ') sp++;
            int len;
            try {
                len = Integer.parseInt(new String(d, i, sp - i, StandardCharsets.US_ASCII));
            } catch (NumberFormatException e) {
                len = -1;
            }
            if (len <= sp - i || i + len > d.length)
                throw new IllegalArgumentException(tar + ": corrupt pax header at byte " + pos);
            String rec = new String(d, sp + 1, i + len - sp - 2, StandardCharsets.UTF_8);
            int eq = rec.indexOf('=');
            if (eq > 0) out.add(new String[]{rec.substring(0, eq), rec.substring(eq + 1)});
            i += len;
        }
        return out;
    }

    private static long paxNumber(String v, long pos, Path tar) {
        try {
            return Long.parseLong(v.strip());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(tar + ": corrupt pax header at byte " + pos + " (size '" + v + "')");
        }
    }

    private static String cString(byte[] b) { return cString(b, 0, b.length); }

    private static String cString(byte[] b, int off, int len) {
        int end = off;
        while (end < off + len && b[end] != 0) end++;
        return new String(b, off, end - off, StandardCharsets.UTF_8);
    }
}
