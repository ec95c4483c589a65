package org.imagenete.eval;

/**
 * The uncertainty of the figures: Wilson score intervals for accuracies and the exact (binomial) McNemar test for
 * paired accuracy differences. On a few thousand images a one-point difference can be noise; these say when.
 */
public final class Stats {
    /** The 97.5% quantile of the standard normal: the z of a two-sided 95% interval. */
    public static final double Z95 = 1.959963984540054;

    private Stats() {}

    /** A closed interval [low, high]. */
    public record Interval(double low, double high) {
        public static final Interval NONE = new Interval(Double.NaN, Double.NaN);
    }

    /**
     * Wilson's score interval (Wilson 1927; Newcombe 1998, method 3) for k successes in n trials:
     * centre (k + z^2/2) / (n + z^2), half-width z sqrt(k (n - k) / n + z^2 / 4) / (n + z^2). Unlike the normal
     * approximation it stays inside [0, 1] and is not degenerate at 0 or n successes. NaNs for n = 0.
     */
    public static Interval wilson(long k, long n, double z) {
        if (n <= 0) return Interval.NONE;
        if (k < 0 || k > n) throw new IllegalArgumentException("wilson: " + k + " successes in " + n + " trials");
        double z2 = z * z, den = n + z2;
        double centre = (k + z2 / 2) / den;
        double half = z * Math.sqrt((double) k * (n - k) / n + z2 / 4) / den;
        // the bounds are exactly 0 and 1 at k = 0 and k = n; clamp the rounding there
        return new Interval(k == 0 ? 0 : Math.max(0, centre - half), k == n ? 1 : Math.min(1, centre + half));
    }

    public static Interval wilson95(long k, long n) { return wilson(k, n, Z95); }

    /**
     * The exact McNemar test of a paired comparison, two-sided: of the {@code b + c} discordant pairs (b: right
     * before and wrong after, c: the reverse), under the null hypothesis each is b or c with probability 1/2, so
     * p = min(1, 2 P(X <= min(b, c))) with X ~ Binomial(b + c, 1/2) (as statsmodels' {@code mcnemar(exact=True)}
     * and R's {@code binom.test} on the discordant counts compute it). 1 when there are no discordant pairs.
     */
    public static double mcnemarExact(long b, long c) {
        if (b < 0 || c < 0) throw new IllegalArgumentException("mcnemar: negative count " + b + ", " + c);
        long n = b + c;
        if (n == 0) return 1;
        return Math.min(1, 2 * binomialCdfHalf(Math.min(b, c), n));
    }

    /**
     * P(X <= k) for X ~ Binomial(n, 1/2): the terms C(n, i) / 2^n in log space (each from the previous by the
     * ratio (n - i) / (i + 1)), summed relative to the largest, so that no term under- or overflows for any n.
     */
    static double binomialCdfHalf(long k, long n) {
        if (k >= n) return 1;
        if (k < 0) return 0;
        double[] logs = new double[(int) k + 1];
        double lt = -n * Math.log(2);
        for (int i = 0; i <= k; i++) {
            logs[i] = lt;
            lt += Math.log((double) (n - i) / (i + 1));
        }
        double max = Double.NEGATIVE_INFINITY;
        for (double l : logs) max = Math.max(max, l);
        double sum = 0;
        for (double l : logs) sum += Math.exp(l - max);
        return Math.min(1, Math.exp(max) * sum);
    }
}
