package org.imagenete.testutil;

import org.imagenete.tensor.Tensor;

import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Element-wise comparison with |a - r| <= atol + rtol |r|, reporting the error (max abs, max rel, relative L2,
 * the share of the tolerance used, the first mismatches), not just pass/fail. Also guards against tests that
 * pass by accident: outputs must be finite with a non-zero norm.
 */
public final class Compare {
    private Compare() {}

    public record Result(double maxAbs, double maxRel, double relL2, double toleranceUsed, long n) {
        @Override public String toString() {
            return String.format(Locale.ROOT, "max|d| %.3g, max rel %.3g, rel L2 %.3g, %.1f%% of tolerance, n=%d",
                    maxAbs, maxRel, relL2, 100 * toleranceUsed, n);
        }
    }

    public static Result assertClose(String what, Tensor actual, Tensor ref, double atol, double rtol) {
        assertEquals(ref.shape(), actual.shape(), what + ": shape");
        return assertClose(what, actual::getDouble, ref::getDouble, ref.numel(), atol, rtol);
    }

    public interface Values { double get(long i); }

    public static Result assertClose(String what, Values actual, Values ref, long n, double atol, double rtol) {
        double maxAbs = 0, maxRel = 0, used = 0, num = 0, den = 0;
        StringBuilder bad = new StringBuilder();
        int nbad = 0;
        for (long i = 0; i < n; i++) {
            double a = actual.get(i), r = ref.get(i);
            if (!Double.isFinite(a)) {
                if (nbad++ < 5) bad.append(String.format(Locale.ROOT, "\n  [%d] got %s, want %.7g", i, a, r));
                used = Double.POSITIVE_INFINITY;
                continue;
            }
            double d = Math.abs(a - r);
            maxAbs = Math.max(maxAbs, d);
            if (r != 0) maxRel = Math.max(maxRel, d / Math.abs(r));
            double tol = atol + rtol * Math.abs(r);
            used = Math.max(used, d == 0 ? 0 : d / tol);
            num += d * d;
            den += r * r;
            if (d > tol && nbad++ < 5)
                bad.append(String.format(Locale.ROOT, "\n  [%d] got %.7g, want %.7g (|d| %.3g > tol %.3g)", i, a, r, d, tol));
        }
        Result res = new Result(maxAbs, maxRel, den == 0 ? (num == 0 ? 0 : Double.POSITIVE_INFINITY) : Math.sqrt(num / den), used, n);
        System.out.println(String.format(Locale.ROOT, "%-44s %s", what, res));
        if (den == 0 && n > 0) fail(what + ": reference is all zeros; the comparison would prove nothing");
        double norm = 0;
        for (long i = 0; i < n; i++) norm += actual.get(i) * actual.get(i);
        if (!(norm > 0) || !Double.isFinite(norm)) fail(what + ": output norm " + norm + " is zero or not finite");
        if (nbad > 0) fail(what + ": " + nbad + " elements outside atol " + atol + " + rtol " + rtol + " (" + res + ")" + bad);
        return res;
    }

    /** Sets every element to NaN so that an op that leaves an element unwritten is caught. */
    public static void poison(Tensor t) {
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, Float.NaN);
    }

}
