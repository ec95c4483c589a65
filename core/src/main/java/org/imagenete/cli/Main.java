package org.imagenete.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code imagenet-e} command. */
@Command(name = "imagenet-e", mixinStandardHelpOptions = true, version = "imagenet-e 0.1.0",
        description = "Edit object attributes in photos with a diffusion model, build ImageNet-E style benchmarks, evaluate classifiers.",
        subcommands = {DemoCommand.class, GenerateCommand.class, VerifyCommand.class, EditCommand.class, ServeCommand.class, EvaluateCommand.class, UnetCommand.class, StepCommand.class, ClassifyCommand.class, CommandLine.HelpCommand.class})
public final class Main {

    static {
        // one line per log record ("imagenet-e: backend: cpu ..."), not java.util.logging's two-line default
        if (System.getProperty("java.util.logging.SimpleFormatter.format") == null)
            System.setProperty("java.util.logging.SimpleFormatter.format", "imagenet-e: %5$s%6$s%n");
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line and returns the exit code: 0 success, 1 failure (one-line reason), 2 usage. */
    public static int run(String... args) {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler((ex, cmd, parse) -> {
            String msg = ex.getMessage() == null ? ex.toString() : ex.getMessage();
            cmd.getErr().println(cmd.getCommandName() + ": " + msg.lines().findFirst().orElse(msg));
            if (Boolean.getBoolean("imagenete.debug")) ex.printStackTrace(cmd.getErr());
            return 1;
        });
        return cl.execute(args);
    }
}
