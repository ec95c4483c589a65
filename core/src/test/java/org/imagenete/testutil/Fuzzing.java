package org.imagenete.testutil;

/**
 * The contract every fuzz target checks: bad input is refused with the parser's own exception type and one line that
 * names the input; anything else escaping (a NullPointerException, an index out of bounds, a stack overflow, an
 * out-of-memory error) is a finding. Jazzer also reports hangs.
 */
public final class Fuzzing {
    private Fuzzing() {}

    /** The refusal {@code e} is one non-blank line starting with {@code name} (the file the parser was told it reads). */
    public static void checkRefusal(RuntimeException e, String name) {
        String m = e.getMessage();
        if (m == null || m.isBlank() || m.lines().count() != 1 || (name != null && !m.startsWith(name)))
            throw new AssertionError("not a one-line refusal naming " + name + ": " + m, e);
    }
}
