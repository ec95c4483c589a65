package org.imagenete.cli;

/**
 * A bad option value or a missing or conflicting option, found after picocli parsed the command line: exits 2
 * (as picocli's own parse errors), where bad input files exit 1.
 */
public final class UsageException extends IllegalArgumentException {
    public UsageException(String message) {
        super(message);
    }

    public UsageException(String message, Throwable cause) {
        super(message, cause);
    }

    /** The value {@code parse} gives; an {@link IllegalArgumentException} it throws becomes a usage error (exit 2). */
    static <T> T of(java.util.function.Supplier<T> parse) {
        try {
            return parse.get();
        } catch (UsageException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage(), e);
        }
    }

    /** Throws a usage error with {@code message} unless {@code ok}. */
    static void require(boolean ok, String message) {
        if (!ok) throw new UsageException(message);
    }
}
