package org.imagenete.testutil;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The imagenet-e command line (or another main class of the test class path) in a JVM of its own: for what needs a
 * real second process (file locks, a kill, a crash that must not take the test JVM with it).
 */
public final class CliProcess {
    private CliProcess() {}

    /** The java command with the project's JVM flags and this JVM's class path, running {@code mainClass}. */
    public static List<String> command(String mainClass, String... args) {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector", "-Xmx1g", "-XX:+UseSerialGC",
                "-cp", System.getProperty("java.class.path"), mainClass));
        cmd.addAll(List.of(args));
        return cmd;
    }

    /** Starts {@code imagenet-e args...}; stdout and stderr go to {@code log}. */
    public static Process start(Path log, String... args) throws IOException {
        return new ProcessBuilder(command("org.imagenete.cli.Main", args)).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    /** Waits for the process (at most {@code seconds}, then kills it and fails) and returns its exit code. */
    public static int await(Process p, Path log, int seconds) throws IOException, InterruptedException {
        if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("still running after " + seconds + " s: " + Files.readString(log));
        }
        return p.exitValue();
    }
}
