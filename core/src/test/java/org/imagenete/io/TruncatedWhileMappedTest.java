package org.imagenete.io;

import org.imagenete.testutil.CliProcess;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A weights file truncated by another process while it is mapped (as {@code cp new.pt weights.pt} does), in a child
 * JVM ({@link TruncationChild}) so that a crash cannot take the test JVM with it.
 */
class TruncatedWhileMappedTest {
    @TempDir Path dir;

    /** Runs the child until it has the file open, truncates the file to {@code keep} bytes, lets it go on; its output. */
    private Result run(long keep, String mode, Path file, String... more) throws IOException, InterruptedException {
        List<String> args = new ArrayList<>(List.of(mode, file.toString()));
        args.addAll(List.of(more));
        List<String> cmd = CliProcess.command(TruncationChild.class.getName(), args.toArray(String[]::new));
        cmd.add(1, "-XX:ErrorFile=" + dir.resolve("hs_err_%p.log"));   // the control's crash report stays out of the repository
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        StringBuilder seen = new StringBuilder();
        for (String l; (l = out.readLine()) != null; ) {
            seen.append(l).append('\n');
            if (l.equals("ready")) break;
        }
        assertTrue(seen.toString().contains("ready"), seen.toString());
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.truncate(keep);
        }
        try (OutputStream in = p.getOutputStream()) {
            in.write('\n');
        }
        for (String l; (l = out.readLine()) != null; ) seen.append(l).append('\n');
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), seen.toString());
        return new Result(p.exitValue(), seen.toString());
    }

    record Result(int code, String output) {}

    @Test
    void copyingWeightsOutOfATruncatedMappingIsOneClearError() throws Exception {
        for (String name : List.of("weights.pt", "io.safetensors")) {
            Path f = Files.copy(Golden.golden("adm-tiny/" + name), dir.resolve(name));
            long size = Files.size(f);
            Result r = run(size / 3, "copy", f);
            assertEquals(0, r.code(), r.output());
            assertTrue(r.output().contains("error: " + f + ": the file changed while in use (it is " + size / 3 + " bytes now, "
                    + size + " when opened): another process truncated or overwrote it"), r.output());
            assertTrue(!r.output().contains("\tat ") && !r.output().contains("SIGBUS"), r.output());
        }
    }

    @Test
    void javaReadsOfATruncatedMappingAreOneClearError() throws Exception {
        Path f = Files.copy(Golden.golden("adm-tiny/io.safetensors"), dir.resolve("io.safetensors"));
        long size = Files.size(f);
        Result r = run(0, "java", f);
        assertEquals(0, r.code(), r.output());
        assertTrue(r.output().contains("error: " + f + ": the file changed while in use (it is 0 bytes now, " + size
                + " when opened)"), r.output());
    }

    @Test
    void aLoadedModelDoesNotNeedItsFileAnyMore() throws Exception {
        Path f = Files.copy(Golden.golden("adm-tiny/weights.pt"), dir.resolve("weights.pt"));
        Result r = run(0, "model", f, Golden.golden("adm-tiny/io.safetensors").toString());
        assertEquals(0, r.code(), r.output());
        assertTrue(r.output().contains("forward ok: |out| = "), r.output());
        assertTrue(!r.output().contains("|out| = 0.0") && !r.output().contains("NaN"), r.output());
    }

    /** The control: a native kernel reading a mapping whose file shrank cannot be saved (SIGBUS kills the JVM). This is why
     *  the weights are copied out before any kernel runs; the test shows the truncation here is real. */
    @Test
    void nativeReadsOfATruncatedMappingKillTheProcess() throws Exception {
        Path f = Files.copy(Golden.golden("adm-tiny/io.safetensors"), dir.resolve("io.safetensors"));
        Result r = run(0, "native", f);
        assertNotEquals(0, r.code(), r.output());
        assertTrue(!r.output().contains("survived"), r.output());
        assertTrue(r.output().contains("SIGBUS"), r.output());
    }
}
