package org.imagenete.tensor.archfixture;

import org.imagenete.cli.Main;

/** A deliberate layering violation (a tensor-level class using the command line), for ArchitectureTest only. */
public final class UpwardImport {
    private UpwardImport() {}

    public static int run(String... args) { return Main.run(args); }
}
