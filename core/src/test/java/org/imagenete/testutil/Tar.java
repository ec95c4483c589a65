package org.imagenete.testutil;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Writes tar archives with the system's GNU tar (a real archiver, in its gnu, pax or ustar format). */
public final class Tar {
    private Tar() {}

    /** {@code tar --format=FORMAT -cf archive -C from files...}; fails with tar's own message. */
    public static void create(Path archive, Path from, String format, List<String> files) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("tar", "--format=" + format, "-cf", archive.toString(), "-C", from.toString()));
        cmd.addAll(files);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (p.waitFor() != 0) throw new IOException("tar failed: " + String.join(" ", cmd) + ": " + out);
    }
}
