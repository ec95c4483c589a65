package org.imagenete.testutil;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Debian's headless Chromium, for tests that open a generated page (flags as this machine's probe uses them). */
public final class Browser {
    private Browser() {}

    public static Path find() {
        for (String p : List.of("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"))
            if (Files.isExecutable(Path.of(p))) return Path.of(p);
        return null;
    }

    private static List<String> base(Path exe, Path profile) {
        return new ArrayList<>(List.of(exe.toString(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--user-data-dir=" + profile, "--virtual-time-budget=5000"));
    }

    private static String run(List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(false).start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("chromium timed out: " + cmd);
        }
        return new String(out, StandardCharsets.UTF_8);
    }

    /** The DOM after load (scripts run). */
    public static String dumpDom(Path exe, Path page, Path tmp) throws IOException, InterruptedException {
        List<String> cmd = base(exe, tmp.resolve("profile-dom"));
        cmd.add("--dump-dom");
        cmd.add(page.toUri().toString());
        return run(cmd);
    }

    /** A PNG screenshot of the page at the given window size. */
    public static Path screenshot(Path exe, Path page, Path tmp, int w, int h) throws IOException, InterruptedException {
        Path png = tmp.resolve("screenshot.png");
        List<String> cmd = base(exe, tmp.resolve("profile-shot"));
        cmd.add("--window-size=" + w + "," + h);
        cmd.add("--hide-scrollbars");
        cmd.add("--screenshot=" + png);
        cmd.add(page.toUri().toString());
        run(cmd);
        return png;
    }
}
