package org.imagenete.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;

/** The {@code imagenet-e} command. */
@Command(name = "imagenet-e", mixinStandardHelpOptions = true, version = "imagenet-e 0.1.0",
        description = "Edit object attributes in photos with a diffusion model, build ImageNet-E style benchmarks, evaluate classifiers.",
        subcommands = {DemoCommand.class, GenerateCommand.class, VerifyCommand.class, EditCommand.class, ServeCommand.class, EvaluateCommand.class, UnetCommand.class, StepCommand.class, ClassifyCommand.class, CommandLine.HelpCommand.class},
        exitCodeListHeading = "Exit codes:%n",
        exitCodeList = {"0:done", "1:failed, with a one-line reason (bad input: the file, key or value at fault)",
                "2:usage error (an unknown option, a bad option value)",
                "3:generate finished, but some images failed (listed in its summary; a rerun retries them)"})
public final class Main {
    public static final int EXIT_OK = 0;
    public static final int EXIT_FAILED = 1;
    public static final int EXIT_USAGE = 2;
    /** {@code generate} finished, but some source images could not be used (each named in the summary). */
    public static final int EXIT_SOME_FAILED = 3;

    static {
        // one line per log record ("imagenet-e: backend: cpu ..."), not java.util.logging's two-line default
        if (System.getProperty("java.util.logging.SimpleFormatter.format") == null)
            System.setProperty("java.util.logging.SimpleFormatter.format", "imagenet-e: %5$s%6$s%n");
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line and returns the exit code: 0 success, 1 failure (one-line reason), 2 usage, 3 partial. */
    public static int run(String... args) {
        return commandLine(new Main()).execute(args);
    }

    /**
     * A command line for {@code command} whose failures are one line: {@link UsageException} exits 2 as picocli's own
     * parse errors do; anything else exits 1 with its message (the cause's stack trace only with -Dimagenete.debug=true).
     */
    public static CommandLine commandLine(Object command) {
        CommandLine cl = new CommandLine(command);
        cl.setExecutionExceptionHandler((ex, cmd, parse) -> {
            cmd.getErr().println(cmd.getCommandName() + ": " + oneLine(ex));
            if (Boolean.getBoolean("imagenete.debug")) ex.printStackTrace(cmd.getErr());
            if (ex instanceof UsageException) {
                cmd.getErr().println("(try: imagenet-e " + cmd.getCommandName() + " --help)");
                return EXIT_USAGE;
            }
            return EXIT_FAILED;
        });
        return cl;
    }

    /** An input file the command reads: one that is missing, or a folder, is bad input naming it. */
    static void requireFile(Path file) {
        if (Files.isDirectory(file)) throw new IllegalArgumentException(file + ": a folder, not a file");
        if (!Files.isRegularFile(file)) throw new IllegalArgumentException(file + ": no such file");
    }

    /**
     * The first line of the exception's message; the JDK's file system exceptions (whose message is only the path)
     * and messageless errors get a reason.
     */
    static String oneLine(Throwable ex) {
        String msg = switch (ex) {
            case NoSuchFileException e -> e.getFile() + ": no such file or folder";
            case FileAlreadyExistsException e -> e.getFile() + ": exists" + (e.getReason() != null ? " (" + e.getReason() + ")" : "")
                    + " where a new file or folder is needed";
            case NotDirectoryException e -> e.getFile() + ": not a folder";
            case DirectoryNotEmptyException e -> e.getFile() + ": folder not empty";
            case AccessDeniedException e -> e.getFile() + ": permission denied";
            case FileSystemException e -> e.getFile() + ": " + (e.getReason() != null ? e.getReason() : e.getClass().getSimpleName());
            case StackOverflowError e -> "input nested too deeply to process (stack overflow)";
            case OutOfMemoryError e -> "out of memory (" + e.getMessage() + "): the input is too large for this heap";
            default -> ex.getMessage() == null || ex.getMessage().isBlank() ? ex.toString() : ex.getMessage();
        };
        return msg.lines().findFirst().orElse(msg);
    }
}
