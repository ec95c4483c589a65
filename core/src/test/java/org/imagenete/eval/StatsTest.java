package org.imagenete.eval;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Wilson intervals and the exact McNemar test against values computed independently of this code. */
class StatsTest {
    /**
     * Newcombe (1998), "Two-sided confidence intervals for the single proportion: comparison of seven methods",
     * Statistics in Medicine 17:857-872, Table I, method 3 (Wilson score interval without continuity correction),
     * printed to 4 decimals: 81/263, 15/148, 0/20, 1/29.
     */
    @Test
    void wilsonMatchesNewcombesTable() {
        double[][] cases = {{81, 263, 0.2553, 0.3662}, {15, 148, 0.0624, 0.1605}, {0, 20, 0.0000, 0.1611}, {1, 29, 0.0061, 0.1718}};
        for (double[] c : cases) {
            Stats.Interval i = Stats.wilson95((long) c[0], (long) c[1]);
            assertEquals(c[2], i.low(), 5e-5, (long) c[0] + "/" + (long) c[1] + " low");
            assertEquals(c[3], i.high(), 5e-5, (long) c[0] + "/" + (long) c[1] + " high");
        }
    }

    /** Closed forms: at k = 0 the upper bound is z^2 / (n + z^2); the interval is symmetric about 1/2 under k -> n - k. */
    @Test
    void wilsonClosedForms() {
        double z2 = Stats.Z95 * Stats.Z95;
        assertEquals(z2 / (20 + z2), Stats.wilson95(0, 20).high(), 1e-15);
        assertEquals(0.0, Stats.wilson95(0, 20).low());
        assertEquals(1.0, Stats.wilson95(20, 20).high());
        Stats.Interval a = Stats.wilson95(3, 17), b = Stats.wilson95(14, 17);
        assertEquals(a.low(), 1 - b.high(), 1e-15);
        assertEquals(a.high(), 1 - b.low(), 1e-15);
        assertTrue(Double.isNaN(Stats.wilson95(0, 0).low()), "no trials: no interval");
        assertThrows(IllegalArgumentException.class, () -> Stats.wilson95(5, 4));
    }

    /**
     * p = min(1, 2 sum_{i <= min(b,c)} C(b+c, i) / 2^(b+c)). Small cases by hand: (1, 8): 2 (1 + 9) / 2^9 = 5/128;
     * (10, 0): 2 / 2^10; (3, 11): 2 (1 + 14 + 91 + 364) / 2^14 = 235/4096; b = c: 1. Large cases with Python's exact
     * integers (fractions.Fraction(2 * sum(math.comb(n, i) for i in range(k + 1)), 2 ** n)), printed as floats.
     */
    @Test
    void mcnemarExactMatchesTheBinomialSums() {
        assertEquals(5.0 / 128, Stats.mcnemarExact(1, 8), 1e-16);
        assertEquals(5.0 / 128, Stats.mcnemarExact(8, 1), 1e-16, "two-sided: symmetric");
        assertEquals(2.0 / 1024, Stats.mcnemarExact(10, 0), 1e-17);
        assertEquals(235.0 / 4096, Stats.mcnemarExact(3, 11), 1e-16);
        assertEquals(1.0, Stats.mcnemarExact(5, 5));
        assertEquals(1.0, Stats.mcnemarExact(0, 0), "no discordant pairs: nothing to test");
        assertEquals(0.08240747932752655, Stats.mcnemarExact(50, 70), 1e-13);
        assertEquals(0.007707305043339141, Stats.mcnemarExact(400, 480), 1e-13);
        assertEquals(0.02071545604926722, Stats.mcnemarExact(2000, 2150), 1e-12);
        assertTrue(Stats.mcnemarExact(100_000, 0) == 0.0 || Stats.mcnemarExact(100_000, 0) < 1e-300, "no overflow at large n");
        // n odd, k = (n - 1) / 2: P(X <= k) is exactly 1/2; the log-space sum of 50 001 terms keeps ~1e-10 of it
        assertEquals(1.0, Stats.mcnemarExact(50_000, 50_001), 1e-9);
    }
}
