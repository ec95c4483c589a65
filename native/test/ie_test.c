/* Tests and benchmarks for the GEMM / convolution kernels (gemm.c, conv.c, winograd.c).
 *   ie_test test            correctness against float64 references (exit 1 on failure)
 *   ie_test bench [what]    what = sgemm | conv | adm | wino | all (default all); threads from
 *                           IE_THREADS (default: all); IE_REPS repetitions (default 5), medians.
 *   ie_test error           Winograd vs direct numerical error (Cin=512 3x3)
 * IE_CPUTIME=1 IE_THREADS=1 IE_NOWAIT=1: single-thread CPU time, for comparisons on a loaded machine.
 */
#define _POSIX_C_SOURCE 200809L
#include "imagenete.h"
#include "internal.h"   /* ie_scratch_*: the scratch test */

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double PEAK_GFLOPS = 538.0; /* 2 cores; 265 for one */

/* ------------------------------------------------------------------ utilities */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static void seed(uint64_t s) { rng_state = s * 0x9E3779B97F4A7C15ull + 1; }
static double urand(void) /* uniform [-1, 1) */
{
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}
static float* falloc(size_t n)
{
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    float* p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p) { fprintf(stderr, "out of memory (%zu floats)\n", n); exit(2); }
    return p;
}
static float* frand(size_t n, double scale)
{
    float* p = falloc(n);
    for (size_t i = 0; i < n; i++) p[i] = (float)(urand() * scale);
    return p;
}
static void poison(float* p, size_t n) { for (size_t i = 0; i < n; i++) p[i] = NAN; }
/* IE_CPUTIME=1: process CPU time instead of wall time. With IE_THREADS=1 that counts this process's work only,
 * a usable measure while other processes load the machine (wall time is not). */
static double now(void)
{
    static int cpu = -1;
    if (cpu < 0) cpu = getenv("IE_CPUTIME") != NULL;
    struct timespec ts;
    clock_gettime(cpu ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
static int cmp_double(const void* a, const void* b)
{
    double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}
static double median(double* v, int n)
{
    qsort(v, n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int failures = 0, checks = 0;

typedef struct { double maxabs, rel_l2; long bad; } err_t;

static err_t compare(const float* y, const double* ref, size_t n, double tol, const char* what)
{
    err_t e = { 0, 0, 0 };
    double num = 0, den = 0;
    int shown = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)y[i] - ref[i]);
        if (!(d <= tol)) { /* catches NaN */
            if (shown < 5) fprintf(stderr, "    %s: mismatch at %zu: got %.8g want %.8g\n", what, i, y[i], ref[i]);
            shown++;
            e.bad++;
        }
        if (d > e.maxabs || d != d) e.maxabs = d != d ? INFINITY : d;
        num += d * d;
        den += ref[i] * ref[i];
    }
    e.rel_l2 = den > 0 ? sqrt(num / den) : sqrt(num);
    return e;
}

/* counts a check; prints failures (and, with IE_VERBOSE, passes) */
static void tally(err_t e, const char* what)
{
    checks++;
    if (e.bad) {
        failures++;
        printf("FAIL %-70s maxabs %.3g relL2 %.3g (%ld bad)\n", what, e.maxabs, e.rel_l2, e.bad);
    } else if (getenv("IE_VERBOSE")) {
        printf("ok   %-70s maxabs %.3g relL2 %.3g\n", what, e.maxabs, e.rel_l2);
    }
}

/* ------------------------------------------------------------------ references */

static void ref_conv(const float* x, const float* w, const float* bias, const float* add, double* y,
                     int B, int Cin, int H, int W, int Cout, int KH, int KW, int s, int pad)
{
    int Ho = (H + 2 * pad - KH) / s + 1, Wo = (W + 2 * pad - KW) / s + 1;
    double* acc = malloc(sizeof(double) * (size_t)Ho * Wo);
    for (int b = 0; b < B; b++)
        for (int co = 0; co < Cout; co++) {
            for (int i = 0; i < Ho * Wo; i++) acc[i] = bias ? bias[co] : 0.0;
            for (int ci = 0; ci < Cin; ci++)
                for (int ky = 0; ky < KH; ky++)
                    for (int kx = 0; kx < KW; kx++) {
                        double wv = w[(((long)co * Cin + ci) * KH + ky) * KW + kx];
                        const float* xc = x + ((long)b * Cin + ci) * H * W;
                        for (int oy = 0; oy < Ho; oy++) {
                            int iy = oy * s + ky - pad;
                            if (iy < 0 || iy >= H) continue;
                            for (int ox = 0; ox < Wo; ox++) {
                                int ix = ox * s + kx - pad;
                                if (ix < 0 || ix >= W) continue;
                                acc[oy * Wo + ox] += wv * xc[iy * W + ix];
                            }
                        }
                    }
            double* yo = y + ((long)b * Cout + co) * Ho * Wo;
            const float* ao = add ? add + ((long)b * Cout + co) * Ho * Wo : NULL;
            for (int i = 0; i < Ho * Wo; i++) yo[i] = acc[i] + (ao ? ao[i] : 0.0);
        }
    free(acc);
}

/* ------------------------------------------------------------------ correctness: sgemm */

static void test_sgemm_one(int ta, int tb, int M, int N, int K, float alpha, float beta, int pad)
{
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
    float* A = frand(na ? na : 1, 1.0);
    float* Bm = frand(nb ? nb : 1, 1.0);
    float* C0 = frand(nc ? nc : 1, 1.0);
    float* C = falloc(nc ? nc : 1);
    double* ref = malloc(sizeof(double) * (nc ? nc : 1));
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc; j++) {
            if (j >= N) { ref[(size_t)i * ldc + j] = C0[(size_t)i * ldc + j]; continue; }
            double s = 0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double bv = tb ? Bm[(size_t)j * ldb + k] : Bm[(size_t)k * ldb + j];
                s += a * bv;
            }
            ref[(size_t)i * ldc + j] = alpha * s + (beta != 0.0f ? beta * (double)C0[(size_t)i * ldc + j] : 0.0);
        }
    if (beta == 0.0f) {
        memcpy(C, C0, nc * sizeof(float));
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = NAN;
    } else {
        memcpy(C, C0, nc * sizeof(float));
    }
    ie_sgemm(ta, tb, M, N, K, alpha, A, lda, Bm, ldb, beta, C, ldc);
    double tol = 1e-5 * (1 + sqrt((double)K)) * (fabs(alpha) + fabs(beta) + 1);
    char what[160];
    snprintf(what, sizeof what, "sgemm tA=%d tB=%d M=%d N=%d K=%d alpha=%g beta=%g pad=%d", ta, tb, M, N, K,
             alpha, beta, pad);
    tally(compare(C, ref, nc, tol, what), what);
    free(A); free(Bm); free(C0); free(C); free(ref);
}

static void test_sgemm(void)
{
    seed(1);
    static const int sizes[] = { 1, 3, 7, 16, 63, 65, 100 };
    int ns = sizeof sizes / sizeof *sizes;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int a = 0; a < ns; a++)
                for (int b = 0; b < ns; b++)
                    for (int c = 0; c < ns; c += 2) {
                        int M = sizes[a], N = sizes[b], K = sizes[c];
                        test_sgemm_one(ta, tb, M, N, K, 1.0f, 0.0f, (a + b + c) % 3);
                    }
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            test_sgemm_one(ta, tb, 1000, 70, 300, 1.0f, 0.0f, 0);
            test_sgemm_one(ta, tb, 67, 1000, 515, 0.5f, 0.0f, 1);
            test_sgemm_one(ta, tb, 131, 129, 64, -1.5f, 2.0f, 3);
            test_sgemm_one(ta, tb, 250, 260, 1, 1.0f, 1.0f, 0);
            test_sgemm_one(ta, tb, 33, 47, 0, 1.0f, 0.5f, 0);
            test_sgemm_one(ta, tb, 5, 517, 1000, 1.0f, 0.0f, 2);
            test_sgemm_one(ta, tb, 512, 3, 77, 1.0f, -1.0f, 0);
            test_sgemm_one(ta, tb, 20, 30, 40, 0.0f, 0.5f, 0);
        }
    /* attention-like: S[T,T] = Q^T K with Q,K [64,T]; A = V W^T */
    test_sgemm_one(1, 0, 300, 300, 64, 0.125f, 0.0f, 0);
    test_sgemm_one(0, 1, 64, 300, 300, 1.0f, 0.0f, 0);
    printf("sgemm: %d checks, %d failures\n", checks, failures);
}

/* ------------------------------------------------------------------ correctness: conv */

typedef void (*conv_fn)(const float*, const float*, const float*, const float*, float*,
                        int, int, int, int, int, int, int, int, int);

/* per-call entry (Winograd only where it pays, else direct) */
static void wino_call_as_conv(const float* x, const float* w, const float* bias, const float* add, float* y,
                              int B, int Cin, int H, int W, int Cout, int KH, int KW, int s, int pad)
{
    ie_conv3x3_winograd_f32(x, w, bias, add, y, B, Cin, H, W, Cout);
}

/* always the Winograd path (in the AVX-512 build) */
static void wino_pre_as_conv(const float* x, const float* w, const float* bias, const float* add, float* y,
                             int B, int Cin, int H, int W, int Cout, int KH, int KW, int s, int pad)
{
    float* wt = falloc(ie_winograd_weights_size(Cin, Cout));
    ie_winograd_transform_weights(w, wt, Cin, Cout);
    ie_conv3x3_winograd_pretransformed_f32(x, wt, bias, add, y, B, Cin, H, W, Cout);
    free(wt);
}

/* fused ReLU (ie_conv2d_ex_f32 / ie_conv3x3_winograd_ex_f32) */
static void conv_relu(const float* x, const float* w, const float* bias, const float* add, float* y,
                      int B, int Cin, int H, int W, int Cout, int KH, int KW, int s, int pad)
{
    ie_conv2d_ex_f32(x, w, bias, add, y, B, Cin, H, W, Cout, KH, KW, s, pad, 1);
}

static void wino_relu(const float* x, const float* w, const float* bias, const float* add, float* y,
                      int B, int Cin, int H, int W, int Cout, int KH, int KW, int s, int pad)
{
    ie_conv3x3_winograd_ex_f32(x, w, bias, add, y, B, Cin, H, W, Cout, 1);
}

/* set while testing the ReLU entries: the reference is clamped at 0 */
static int ref_relu = 0;

/* mode: 0 none, 1 bias, 2 add, 3 bias+add, 4 bias+add with y aliasing add */
static int ref_bf16;
static int bf16_rounds_x(int Cin, int W, int Cout, int KH, int KW, int s, int pad);
static float bfround(float f);

static err_t test_conv_one(conv_fn fn, const char* name, double tol_scale, int B, int Cin, int H, int W,
                           int Cout, int KH, int KW, int s, int pad, int mode, double wscale, int quiet)
{
    int Ho = (H + 2 * pad - KH) / s + 1, Wo = (W + 2 * pad - KW) / s + 1;
    size_t nx = (size_t)B * Cin * H * W, nw = (size_t)Cout * Cin * KH * KW, ny = (size_t)B * Cout * Ho * Wo;
    float* x = frand(nx ? nx : 1, 1.0);
    float* w = frand(nw ? nw : 1, wscale);
    float* bias = (mode & 1) ? frand(Cout, 1.0) : NULL;
    float* add = (mode >= 2) ? frand(ny, 1.0) : NULL;
    double* ref = malloc(sizeof(double) * ny);
    if (ref_bf16) {
        float* xr = falloc(nx ? nx : 1), *wr = falloc(nw ? nw : 1);
        const int rx = bf16_rounds_x(Cin, W, Cout, KH, KW, s, pad);
        for (size_t i = 0; i < nx; i++) xr[i] = rx ? bfround(x[i]) : x[i];
        for (size_t i = 0; i < nw; i++) wr[i] = bfround(w[i]);
        ref_conv(xr, wr, bias, add, ref, B, Cin, H, W, Cout, KH, KW, s, pad);
        free(xr); free(wr);
    } else {
        ref_conv(x, w, bias, add, ref, B, Cin, H, W, Cout, KH, KW, s, pad);
    }
    if (ref_relu)
        for (size_t i = 0; i < ny; i++) ref[i] = ref[i] > 0 ? ref[i] : 0.0;
    float* y;
    if (mode == 4) y = add;
    else { y = falloc(ny); poison(y, ny); }
    fn(x, w, bias, add, y, B, Cin, H, W, Cout, KH, KW, s, pad);
    int K = Cin * KH * KW;
    double tol = tol_scale * 1e-5 * (1 + sqrt((double)K)) * (wscale > 0 ? wscale : 1);
    char what[200];
    snprintf(what, sizeof what, "%s B=%d %d->%d %dx%d k%dx%d s%d p%d %s%s", name, B, Cin, Cout, H, W, KH, KW, s,
             pad, (const char*[]){ "", "+bias", "+add", "+bias+add", "+bias+add(y=add)" }[mode],
             ref_relu ? " relu" : "");
    err_t e = compare(y, ref, ny, tol, what);
    checks++;
    if (e.bad) {
        failures++;
        printf("FAIL %-60s maxabs %.3g relL2 %.3g (%ld bad, tol %.3g)\n", what, e.maxabs, e.rel_l2, e.bad, tol);
    } else if (!quiet || getenv("IE_VERBOSE")) {
        printf("ok   %-60s maxabs %.3g relL2 %.3g (tol %.3g)\n", what, e.maxabs, e.rel_l2, tol);
    }
    free(x); free(w); free(bias); free(ref);
    if (mode == 4) free(add);
    else { free(add); free(y); }
    return e;
}

/* ADM-256 conv shapes: Cin, Cout, resolution, kernel, count */
typedef struct { int cin, cout, res, k, count; } adm_shape;
static const adm_shape adm[] = {
    { 3, 256, 256, 3, 1 }, { 256, 256, 256, 3, 11 }, { 512, 256, 256, 3, 3 }, { 512, 256, 256, 1, 3 },
    { 256, 256, 128, 3, 6 }, { 768, 256, 128, 3, 1 }, { 512, 256, 128, 3, 2 }, { 768, 256, 128, 1, 1 },
    { 512, 256, 128, 1, 2 }, { 512, 512, 128, 3, 2 },
    { 256, 512, 64, 3, 1 }, { 512, 512, 64, 3, 5 }, { 256, 512, 64, 1, 1 }, { 256, 256, 64, 3, 2 },
    { 1024, 512, 64, 3, 2 }, { 768, 512, 64, 3, 1 }, { 1024, 512, 64, 1, 2 }, { 768, 512, 64, 1, 1 },
    { 512, 512, 32, 3, 8 }, { 1536, 512, 32, 3, 1 }, { 1024, 512, 32, 3, 2 }, { 1536, 512, 32, 1, 1 },
    { 1024, 512, 32, 1, 2 }, { 1024, 1024, 32, 3, 2 },
    { 512, 1024, 16, 3, 1 }, { 1024, 1024, 16, 3, 10 }, { 512, 1024, 16, 1, 1 }, { 2048, 1024, 16, 3, 2 },
    { 1536, 1024, 16, 3, 1 }, { 2048, 1024, 16, 1, 2 }, { 1536, 1024, 16, 1, 1 },
    { 1024, 1024, 8, 3, 13 }, { 2048, 1024, 8, 3, 3 }, { 2048, 1024, 8, 1, 3 },
    { 256, 6, 256, 3, 1 },
};
#define NADM ((int)(sizeof adm / sizeof *adm))

static void test_conv(void)
{
    seed(2);
    int f0 = failures, c0 = checks;
    /* awkward shapes */
    for (int mode = 0; mode < 5; mode++) {
        test_conv_one(ie_conv2d_f32, "conv", 1, 1, 3, 16, 16, 6, 3, 3, 1, 1, mode, 1, 1);
        test_conv_one(ie_conv2d_f32, "conv", 1, 3, 5, 5, 7, 7, 3, 3, 1, 1, mode, 1, 1);
        test_conv_one(ie_conv2d_f32, "conv", 1, 2, 13, 17, 13, 13, 3, 3, 1, 1, mode, 1, 1);
        test_conv_one(ie_conv2d_f32, "conv", 1, 1, 65, 1, 1, 65, 3, 3, 1, 1, mode, 1, 1);
        test_conv_one(ie_conv2d_f32, "conv", 1, 3, 7, 17, 13, 13, 1, 1, 1, 0, mode, 1, 1);
        test_conv_one(ie_conv2d_f32, "conv", 1, 2, 8, 15, 15, 7, 7, 7, 2, 3, mode, 1, 1);
    }
    for (int b = 1; b <= 3; b += 2) {
        test_conv_one(ie_conv2d_f32, "conv", 1, b, 3, 33, 29, 64, 7, 7, 2, 3, 1, 1, 1);   /* ResNet stem */
        test_conv_one(ie_conv2d_f32, "conv", 1, b, 64, 15, 16, 64, 3, 3, 2, 1, 1, 1, 1);  /* 3x3 s2 */
        test_conv_one(ie_conv2d_f32, "conv", 1, b, 64, 15, 16, 128, 1, 1, 2, 0, 2, 1, 1); /* 1x1 s2 */
        test_conv_one(ie_conv2d_f32, "conv", 1, b, 13, 17, 13, 65, 3, 3, 1, 1, 3, 1, 1);
        test_conv_one(ie_conv2d_f32, "conv", 1, b, 16, 9, 70, 7, 3, 3, 1, 1, 3, 1, 1);   /* wide rows */
        test_conv_one(ie_conv2d_f32, "conv", 1, b, 16, 4, 130, 7, 3, 3, 1, 1, 3, 1, 1);
        test_conv_one(ie_conv2d_f32, "conv", 1, b, 16, 20, 20, 8, 5, 3, 1, 2, 3, 1, 1);
        test_conv_one(ie_conv2d_f32, "conv", 1, b, 16, 20, 20, 8, 2, 2, 2, 0, 3, 1, 1);
        test_conv_one(ie_conv2d_f32, "conv", 1, b, 16, 6, 6, 8, 3, 3, 3, 2, 3, 1, 1);
        test_conv_one(ie_conv2d_f32, "conv", 1, b, 0, 6, 6, 8, 3, 3, 1, 1, 3, 1, 1);     /* Cin = 0 */
    }
    /* ADM shapes at reduced resolution, real channel counts */
    for (int i = 0; i < NADM; i++) {
        const adm_shape* a = &adm[i];
        int res = a->cin * a->cout >= 1024 * 1024 ? 8 : a->cin * a->cout >= 512 * 512 ? 8 : 16;
        if (a->cin <= 3) res = 32;
        int p = a->k / 2;
        test_conv_one(ie_conv2d_f32, "conv", 1, 1, a->cin, res, res, a->cout, a->k, a->k, 1, p, i % 4, 1, 1);
        if (i % 5 == 0)
            test_conv_one(ie_conv2d_f32, "conv", 1, 1, a->cin, 1, 1, a->cout, a->k, a->k, 1, p, 3, 1, 1);
    }
    printf("conv: %d checks, %d failures\n", checks - c0, failures - f0);
}

static void test_wino(void)
{
    seed(3);
    int f0 = failures, c0 = checks;
    /* Winograd: tolerance in units of the direct one; F(4x4) amplifies rounding by ~10-100x. */
    const double wt = 30;
    for (int mode = 0; mode < 5; mode++) {
        test_conv_one(wino_pre_as_conv, "wino", wt, 1, 3, 16, 16, 6, 3, 3, 1, 1, mode, 1, 1);
        test_conv_one(wino_pre_as_conv, "wino", wt, 2, 13, 17, 13, 13, 3, 3, 1, 1, mode, 1, 1);
        test_conv_one(wino_pre_as_conv, "wino", wt, 1, 65, 1, 1, 65, 3, 3, 1, 1, mode, 1, 1);
        test_conv_one(wino_pre_as_conv, "wino", wt, 3, 5, 5, 7, 7, 3, 3, 1, 1, mode, 1, 1);
        test_conv_one(wino_call_as_conv, "wino-call", wt, 1, 16, 66, 70, 20, 3, 3, 1, 1, mode, 1, 1);
        test_conv_one(wino_pre_as_conv, "wino-pre", wt, 2, 16, 35, 33, 20, 3, 3, 1, 1, mode, 1, 1);
        /* padded-row tile layout (tw a multiple of 16, or >= 48): */
        test_conv_one(wino_pre_as_conv, "wino-pre", wt, 1, 9, 61, 64, 17, 3, 3, 1, 1, mode, 1, 1);
        test_conv_one(wino_pre_as_conv, "wino-pre", wt, 2, 5, 10, 200, 7, 3, 3, 1, 1, mode, 1, 1);
    }
    for (int i = 0; i < NADM; i++) {
        const adm_shape* a = &adm[i];
        if (a->k != 3) continue;
        int res = a->cin * a->cout >= 512 * 512 ? 16 : 32;
        test_conv_one(wino_pre_as_conv, "wino", wt, 1, a->cin, res, res, a->cout, 3, 3, 1, 1, i % 4, 1, 1);
    }
    printf("winograd: %d checks, %d failures\n", checks - c0, failures - f0);
}

/* Paths added for small images and ResNet: GEMM columns across the batch (Ho*Wo not a multiple of
 * 64, >= 16), vectorised stride-2 packing, Winograd tiles across images, the fused ReLU. */
static void test_batched(void)
{
    seed(4);
    int f0 = failures, c0 = checks;
    for (int relu = 0; relu < 2; relu++) {
        ref_relu = relu;
        conv_fn f = relu ? conv_relu : ie_conv2d_f32;
        const char* n = relu ? "conv-relu" : "conv";
        for (int mode = 0; mode < 5; mode++) {
            /* ResNet small-image shapes (channels reduced), batch 3 */
            test_conv_one(f, n, 1, 3, 24, 14, 14, 40, 1, 1, 1, 0, mode, 1, 1);    /* 1x1 @14: 196 columns */
            test_conv_one(f, n, 1, 3, 40, 7, 7, 70, 1, 1, 1, 0, mode, 1, 1);      /* 1x1 @7: 49 */
            test_conv_one(f, n, 1, 3, 24, 28, 28, 13, 1, 1, 2, 0, mode, 1, 1);    /* 1x1 s2 28->14 */
            test_conv_one(f, n, 1, 3, 16, 14, 14, 20, 3, 3, 2, 1, mode, 1, 1);    /* 3x3 s2 14->7 */
            test_conv_one(f, n, 1, 2, 3, 30, 30, 10, 7, 7, 2, 3, mode, 1, 1);     /* stem-like, 15x15 out */
            test_conv_one(f, n, 1, 4, 5, 9, 8, 7, 3, 3, 1, 0, mode, 1, 1);        /* valid conv, 7x6 = 42 */
            test_conv_one(f, n, 1, 3, 200, 5, 4, 9, 1, 1, 1, 0, mode, 1, 1);      /* K > KC, 20 columns */
            test_conv_one(f, n, 1, 5, 6, 4, 4, 7, 1, 1, 1, 0, mode, 1, 1);        /* 16 columns exactly */
            test_conv_one(f, n, 1, 3, 6, 5, 3, 7, 1, 1, 1, 0, mode, 1, 1);        /* 15 columns: per image */
            test_conv_one(f, n, 1, 3, 7, 17, 13, 13, 3, 3, 1, 1, mode, 1, 1);     /* masked stride-1 path */
            test_conv_one(f, n, 1, 2, 8, 15, 15, 3, 3, 3, 1, 1, mode, 1, 1);      /* Cout <= MR direct */
            /* stride 2 at odd sizes and every pad: the vectorised even-lane packing */
            test_conv_one(f, n, 1, 2, 4, 37, 41, 9, 3, 3, 2, 1, mode, 1, 1);
            test_conv_one(f, n, 1, 1, 4, 36, 70, 9, 5, 5, 2, 2, mode, 1, 1);
            test_conv_one(f, n, 1, 3, 5, 11, 9, 6, 2, 2, 2, 0, mode, 1, 1);
            test_conv_one(f, n, 1, 2, 3, 64, 67, 8, 7, 7, 2, 3, mode, 1, 1);
        }
        /* ResNet-50 channel counts, batch 2 (columns across images at every small size) */
        test_conv_one(f, n, 1, 2, 256, 14, 14, 1024, 1, 1, 1, 0, 3, 1, 1);
        test_conv_one(f, n, 1, 2, 2048, 7, 7, 512, 1, 1, 1, 0, 1, 1, 1);
        test_conv_one(f, n, 1, 2, 512, 28, 28, 1024, 1, 1, 2, 0, 1, 1, 1);
        test_conv_one(f, n, 1, 2, 512, 14, 14, 512, 3, 3, 2, 1, 1, 1, 1);
        test_conv_one(f, n, 1, 2, 3, 224, 224, 64, 7, 7, 2, 3, 1, 1, 1);
        /* Winograd across images (per-call entry: where it pays), every epilogue */
        conv_fn wf = relu ? wino_relu : wino_call_as_conv;
        const char* wn = relu ? "wino-relu" : "wino-call";
        const double wt = 30;
        for (int mode = 0; mode < 5; mode++) {
            test_conv_one(wf, wn, wt, 9, 16, 14, 14, 20, 3, 3, 1, 1, mode, 1, 1);   /* 16 tiles per image */
            test_conv_one(wf, wn, wt, 33, 8, 7, 7, 9, 3, 3, 1, 1, mode, 1, 1);      /* 4 */
            test_conv_one(wf, wn, wt, 3, 12, 28, 28, 10, 3, 3, 1, 1, mode, 1, 1);   /* 49 */
            test_conv_one(wf, wn, wt, 11, 9, 13, 11, 8, 3, 3, 1, 1, mode, 1, 1);    /* partial tiles */
            test_conv_one(wf, wn, wt, 1, 16, 66, 70, 20, 3, 3, 1, 1, mode, 1, 1);   /* padded layout */
        }
        test_conv_one(wf, wn, wt, 8, 256, 14, 14, 256, 3, 3, 1, 1, 1, 1, 1);       /* ResNet-50 layer3 */
        test_conv_one(wf, wn, wt, 4, 512, 7, 7, 512, 3, 3, 1, 1, 1, 1, 1);        /* 16 tiles: direct */
        test_conv_one(wf, wn, wt, 32, 128, 7, 7, 128, 3, 3, 1, 1, 3, 1, 1);       /* layer4 (channels / 4) */
        test_conv_one(wf, wn, wt, 3, 128, 28, 28, 128, 3, 3, 1, 1, 3, 1, 1);      /* layer2 */
    }
    ref_relu = 0;
    printf("batched/relu: %d checks, %d failures\n", checks - c0, failures - f0);
}

/* ------------------------------------------------------------------ correctness: bf16 */

/* float -> bf16 bits, round to nearest even (as org.imagenete.tensor.Tensor.floatToBf16; no NaNs here) */
static uint16_t f2bf(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}
static float bf2f(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static float bfround(float f) { return bf2f(f2bf(f)); }

/* The bf16 kernels against the float64 reference on bf16-rounded operands: what is left is the fp32 summation,
 * so the tolerance is the fp32 one. Without AVX-512 BF16 the entries widen the weights and run fp32: x is then
 * not rounded (nor for the few-output-channel direct path, see ie_conv2d_bf16_ex). */
static void test_gemm_bf16_one(int ta, int tb, int M, int N, int K, float beta, int pad)
{
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
    uint16_t* A = malloc(sizeof(uint16_t) * (na ? na : 1));
    for (size_t i = 0; i < na; i++) A[i] = f2bf((float)urand());
    float* Bm = frand(nb ? nb : 1, 1.0);
    float* C = frand(nc ? nc : 1, 1.0);
    double* ref = malloc(sizeof(double) * (nc ? nc : 1));
    const int rb = ie_has_bf16();
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc; j++) {
            if (j >= N) { ref[(size_t)i * ldc + j] = C[(size_t)i * ldc + j]; continue; }
            double s = 0;
            for (int k = 0; k < K; k++) {
                float bv = tb ? Bm[(size_t)j * ldb + k] : Bm[(size_t)k * ldb + j];
                s += (double)bf2f(A[ta ? (size_t)k * lda + i : (size_t)i * lda + k]) * (rb ? bfround(bv) : bv);
            }
            ref[(size_t)i * ldc + j] = s + (beta != 0.0f ? beta * (double)C[(size_t)i * ldc + j] : 0.0);
        }
    if (beta == 0.0f)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = NAN;
    ie_gemm_bf16(ta, tb, M, N, K, A, lda, Bm, ldb, beta, C, ldc);
    double tol = 1e-5 * (1 + sqrt((double)K)) * (1 + fabs(beta));
    char what[160];
    snprintf(what, sizeof what, "gemm-bf16 tA=%d tB=%d M=%d N=%d K=%d beta=%g pad=%d", ta, tb, M, N, K, beta, pad);
    tally(compare(C, ref, nc, tol, what), what);
    free(A); free(Bm); free(C); free(ref);
}

/* set while testing a bf16 conv entry: the reference rounds w (and x, see bf16_rounds_x) to bf16 */
static int ref_bf16 = 0;

/* whether the bf16 entries round x: every path does where the CPU has AVX-512 BF16 (they widen w and run fp32
 * on x as it is otherwise) */
static int bf16_rounds_x(int Cin, int W, int Cout, int KH, int KW, int s, int pad) { return ie_has_bf16(); }

static void conv_bf16(const float* x, const float* w, const float* bias, const float* add, float* y,
                      int B, int Cin, int H, int W, int Cout, int KH, int KW, int s, int pad)
{
    const size_t n = (size_t)Cout * Cin * KH * KW;
    uint16_t* w16 = malloc(sizeof(uint16_t) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) w16[i] = f2bf(w[i]);
    ie_conv2d_bf16_ex(x, w16, bias, add, y, B, Cin, H, W, Cout, KH, KW, s, pad, ref_relu);
    free(w16);
}

/* ie_conv3x3_winograd_bf16_ex (always Winograd in the AVX-512 build; bf16 GEMM or fp32 transforms as set) */
static void wino_bf16(const float* x, const float* w, const float* bias, const float* add, float* y,
                      int B, int Cin, int H, int W, int Cout, int KH, int KW, int s, int pad)
{
    const size_t n = (size_t)Cout * Cin * 9;
    uint16_t* w16 = malloc(sizeof(uint16_t) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) w16[i] = f2bf(w[i]);
    ie_conv3x3_winograd_bf16_ex(x, w16, bias, add, y, B, Cin, H, W, Cout, ref_relu);
    free(w16);
}

/* ie_conv3x3_winograd_transposed_bf16 (the input-gradient's convolution) as the convolution with w: it takes the
 * weights as [Cin, Cout, 3, 3] of the transposed problem, each kernel rotated by 180 degrees (no bias, add or ReLU) */
static void wino_bf16_t(const float* x, const float* w, const float* bias, const float* add, float* y,
                        int B, int Cin, int H, int W, int Cout, int KH, int KW, int s, int pad)
{
    const size_t n = (size_t)Cout * Cin * 9;
    uint16_t* wt = malloc(sizeof(uint16_t) * (n ? n : 1));
    for (int co = 0; co < Cout; co++)
        for (int ci = 0; ci < Cin; ci++)
            for (int k = 0; k < 9; k++) wt[((size_t)ci * Cout + co) * 9 + k] = f2bf(w[((size_t)co * Cin + ci) * 9 + 8 - k]);
    ie_conv3x3_winograd_transposed_bf16(x, wt, y, B, Cin, H, W, Cout);
    free(wt);
}

static void test_gemm_bf16(void)
{
    seed(5);
    int f0 = failures, c0 = checks;
    static const int sizes[] = { 1, 2, 7, 16, 63, 65, 100 };
    const int ns = sizeof sizes / sizeof *sizes;
    for (int ta = 0; ta < 2; ta++)   /* transposed A: the column-major bf16 kernel */
        for (int tb = 0; tb < 2; tb++)
            for (int a = 0; a < ns; a++)
                for (int b = 0; b < ns; b++)
                    for (int c = 0; c < ns; c++)
                        test_gemm_bf16_one(ta, tb, sizes[a], sizes[b], sizes[c], 0.0f, (a + b + c) % 3);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            test_gemm_bf16_one(ta, tb, 1000, 70, 301, 0.0f, 0);   /* odd K over two K blocks */
            test_gemm_bf16_one(ta, tb, 67, 1000, 515, 0.5f, 1);
            test_gemm_bf16_one(ta, tb, 131, 129, 257, -1.0f, 3);  /* K one past a block */
            test_gemm_bf16_one(ta, tb, 5, 517, 1000, 0.0f, 2);
            test_gemm_bf16_one(ta, tb, 33, 47, 0, 0.5f, 0);
            test_gemm_bf16_one(ta, tb, 250, 260, 1, 1.0f, 0);
        }
    printf("gemm-bf16: %d checks, %d failures%s\n", checks - c0, failures - f0,
           ie_has_bf16() ? "" : " (no AVX-512 BF16: fp32 fallback)");
}

static void test_conv_bf16(void)
{
    seed(6);
    int f0 = failures, c0 = checks;
    ref_bf16 = 1;
    for (int relu = 0; relu < 2; relu++) {
        ref_relu = relu;
        for (int mode = 0; mode < 5; mode++) {
            test_conv_one(conv_bf16, "conv-bf16", 1, 1, 3, 16, 16, 6, 3, 3, 1, 1, mode, 1, 1);   /* few outputs: fp32 */
            test_conv_one(conv_bf16, "conv-bf16", 1, 3, 5, 5, 7, 7, 3, 3, 1, 1, mode, 1, 1);
            test_conv_one(conv_bf16, "conv-bf16", 1, 2, 13, 17, 13, 13, 3, 3, 1, 1, mode, 1, 1);  /* odd K = 117 */
            test_conv_one(conv_bf16, "conv-bf16", 1, 1, 65, 1, 1, 65, 3, 3, 1, 1, mode, 1, 1);
            test_conv_one(conv_bf16, "conv-bf16", 1, 3, 7, 17, 13, 13, 1, 1, 1, 0, mode, 1, 1);   /* 1x1, odd K */
            test_conv_one(conv_bf16, "conv-bf16", 1, 2, 8, 15, 15, 7, 7, 7, 2, 3, mode, 1, 1);
            test_conv_one(conv_bf16, "conv-bf16", 1, 3, 24, 14, 14, 40, 1, 1, 1, 0, mode, 1, 1);  /* batched columns */
            test_conv_one(conv_bf16, "conv-bf16", 1, 3, 16, 14, 14, 20, 3, 3, 2, 1, mode, 1, 1);
            test_conv_one(conv_bf16, "conv-bf16", 1, 2, 3, 30, 30, 10, 7, 7, 2, 3, mode, 1, 1);   /* stem, K = 147 */
            test_conv_one(conv_bf16, "conv-bf16", 1, 3, 200, 5, 4, 9, 1, 1, 1, 0, mode, 1, 1);    /* K > KC16/2 */
            test_conv_one(conv_bf16, "conv-bf16", 1, 2, 4, 37, 41, 9, 3, 3, 2, 1, mode, 1, 1);
        }
        test_conv_one(conv_bf16, "conv-bf16", 1, 2, 256, 14, 14, 1024, 1, 1, 1, 0, 3, 1, 1);
        test_conv_one(conv_bf16, "conv-bf16", 1, 2, 512, 14, 14, 512, 3, 3, 2, 1, 1, 1, 1);
        test_conv_one(conv_bf16, "conv-bf16", 1, 1, 129, 20, 20, 70, 3, 3, 1, 1, 3, 1, 1);   /* K = 1161: 5 blocks */
        test_conv_one(conv_bf16, "conv-bf16", 1, 2, 3, 64, 64, 64, 7, 7, 2, 3, 1, 1, 1);
    }
    ref_relu = 0;
    for (int i = 0; i < NADM; i++) {
        const adm_shape* a = &adm[i];
        int res = a->cin * a->cout >= 512 * 512 ? 8 : 16;
        if (a->cin <= 3) res = 32;
        test_conv_one(conv_bf16, "conv-bf16", 1, 1, a->cin, res, res, a->cout, a->k, a->k, 1, a->k / 2, i % 4, 1, 1);
    }
    /* the fp32 Winograd on bf16-rounded operands (ie_set_winograd_bf16(0)): the fp32 Winograd's tolerance */
    const double wt = 30;
    ie_set_winograd_bf16(0);
    for (int relu = 0; relu < 2; relu++) {
        ref_relu = relu;
        for (int mode = 0; mode < 5; mode++) {
            test_conv_one(wino_bf16, "wino-bf16x", wt, 1, 3, 16, 16, 6, 3, 3, 1, 1, mode, 1, 1);
            test_conv_one(wino_bf16, "wino-bf16x", wt, 2, 13, 17, 13, 13, 3, 3, 1, 1, mode, 1, 1);
            test_conv_one(wino_bf16, "wino-bf16x", wt, 9, 16, 14, 14, 20, 3, 3, 1, 1, mode, 1, 1);  /* compact tiles */
            test_conv_one(wino_bf16, "wino-bf16x", wt, 1, 16, 66, 70, 20, 3, 3, 1, 1, mode, 1, 1); /* padded layout */
        }
        test_conv_one(wino_bf16, "wino-bf16x", wt, 1, 256, 32, 32, 256, 3, 3, 1, 1, 3, 1, 1);
    }
    ie_set_winograd_bf16(1);
    ref_relu = 0;
    ref_bf16 = 0;
    printf("conv-bf16: %d checks, %d failures%s\n", checks - c0, failures - f0,
           ie_has_bf16() ? "" : " (no AVX-512 BF16: fp32 fallback)");
}

/* The bf16 GEMM's Winograd (ie_set_winograd_bf16(1): U and V rounded to bf16, points 0, 1, -1, 1/2, -2, inf, four
 * frequencies in fp32) against the float64 convolution of the bf16-rounded operands. Its error is the transforms'
 * amplification of bf16 rounding, not a last-bit difference, so the check is the relative L2 per shape, with
 * x ~ U[-1,1] (white: the worst case for Winograd) and w ~ U[-1,1] * sqrt(3 / fan_in): <= WINO_BF16_TOL (measured
 * 0.85-1.5% on these shapes; Lavin's points with every frequency in bf16 gave 1.4-2.5%, above the bound on 6 of
 * them) and > 1e-4 (the bf16 path did run: the fp32 Winograd's error is ~1e-7). */
#define WINO_BF16_TOL 1.8e-2
static void test_wino_bf16_gemm(void)
{
    seed(7);
    int f0 = failures, c0 = checks;
    ie_set_winograd_bf16(1);   /* the default */
    ref_bf16 = 1;
    static const int shapes[][5] = {       /* B, Cin, H, W, Cout */
        { 1, 3, 16, 16, 6 }, { 2, 13, 17, 13, 13 }, { 9, 16, 14, 14, 20 },   /* odd Cin; compact tiles */
        { 1, 16, 66, 70, 20 }, { 1, 33, 9, 41, 17 }, { 3, 64, 28, 28, 40 },  /* padded layout; ragged edges */
        { 1, 256, 32, 32, 256 }, { 1, 512, 16, 16, 512 },
    };
    for (int relu = 0; relu < 2; relu++) {
        ref_relu = relu;
        for (int i = 0; i < (int)(sizeof shapes / sizeof *shapes); i++) {
            const int* q = shapes[i];
            const int mode = (i + relu) % 5;
            const double ws = sqrt(3.0 / (q[1] * 9));
            err_t e = test_conv_one(wino_bf16, "wino-bf16-gemm", 1e9, q[0], q[1], q[2], q[3], q[4], 3, 3, 1, 1, mode,
                                    ws, 1);
            const int ok = e.rel_l2 <= WINO_BF16_TOL && (e.rel_l2 > 1e-4 || !ie_has_bf16());
            checks++;
            if (!ok) failures++;
            if (!ok || getenv("IE_VERBOSE"))
                printf("%s wino-bf16-gemm B=%d %d->%d %dx%d mode %d%s: relL2 %.3g (bound %.3g, > 1e-4)\n", ok ? "ok  " : "FAIL",
                       q[0], q[1], q[4], q[2], q[3], mode, relu ? " relu" : "", e.rel_l2, WINO_BF16_TOL);
        }
    }
    ref_relu = 0;
    /* the transposed form (the weights read as [Cin, Cout, 3, 3], rotated) on the same shapes */
    for (int i = 0; i < (int)(sizeof shapes / sizeof *shapes); i++) {
        const int* q = shapes[i];
        err_t e = test_conv_one(wino_bf16_t, "wino-bf16-gemm-t", 1e9, q[0], q[1], q[2], q[3], q[4], 3, 3, 1, 1, 0,
                                sqrt(3.0 / (q[1] * 9)), 1);
        const int ok = e.rel_l2 <= WINO_BF16_TOL && (e.rel_l2 > 1e-4 || !ie_has_bf16());
        checks++;
        if (!ok) failures++;
        if (!ok || getenv("IE_VERBOSE"))
            printf("%s wino-bf16-gemm transposed B=%d %d->%d %dx%d: relL2 %.3g (bound %.3g, > 1e-4)\n", ok ? "ok  " : "FAIL",
                   q[0], q[1], q[4], q[2], q[3], e.rel_l2, WINO_BF16_TOL);
    }
    ref_bf16 = 0;
    printf("wino-bf16-gemm: %d checks, %d failures%s\n", checks - c0, failures - f0,
           ie_has_bf16() ? "" : " (no AVX-512 BF16: fp32 fallback)");
}

/* ------------------------------------------------------------------ scratch */

/* a thread that takes nested thread scratch (as the Winograd and GEMM kernels do), parks it and ends: arg gets the
 * bytes held while it ran */
static void* scratch_user(void* arg)
{
    ie_scratch a = ie_scratch_take((size_t)1 << 18, IE_SCRATCH_THREAD);
    ie_scratch b = ie_scratch_take((size_t)3 << 16, IE_SCRATCH_THREAD);
    if (a.p) a.p[0] = 1.0f;
    if (b.p) b.p[(3 << 16) - 1] = 2.0f;
    *(size_t*)arg = ie_scratch_thread_bytes();
    ie_scratch_park(b);
    ie_scratch_park(a);
    return NULL;
}

/* Thread scratch is freed when its thread ends: threads started one after another (a server's per-request threads)
 * leave nothing behind. */
static void test_scratch_threads(void)
{
    int f0 = failures, c0 = checks;
    const size_t before = ie_scratch_thread_bytes();
    for (int i = 0; i < 16; i++) {
        size_t during = 0;
        pthread_t t;
        if (pthread_create(&t, NULL, scratch_user, &during) != 0) {
            printf("FAIL scratch: pthread_create\n");
            failures++;
            break;
        }
        pthread_join(t, NULL);
        const size_t after = ie_scratch_thread_bytes();
        checks++;
        if (during < before + (((size_t)1 << 18) + ((size_t)3 << 16)) * sizeof(float) || after != before) {
            failures++;
            printf("FAIL scratch: thread %d held %zu bytes (before %zu), %zu after it ended\n", i, during, before, after);
        }
    }
    printf("scratch: %d checks, %d failures\n", checks - c0, failures - f0);
}

/* ------------------------------------------------------------------ error report */

static void error_report(void)
{
    printf("Numerical error vs float64 reference: x ~ U[-1,1], w ~ U[-1,1]*sqrt(3/fan_in), bias 0\n");
    static const int shapes[][3] = { { 512, 512, 32 }, { 256, 256, 64 }, { 1024, 1024, 16 } };
    for (int s = 0; s < 3; s++) {
        int cin = shapes[s][0], cout = shapes[s][1], res = shapes[s][2];
        double ws = sqrt(3.0 / (cin * 9));
        seed(10 + s);
        err_t d = test_conv_one(ie_conv2d_f32, "direct", 1e9, 1, cin, res, res, cout, 3, 3, 1, 1, 0, ws, 1);
        seed(10 + s);
        err_t w = test_conv_one(wino_pre_as_conv, "winograd", 1e9, 1, cin, res, res, cout, 3, 3, 1, 1, 0, ws, 1);
        printf("  %4d->%-4d @%-3d  direct: maxabs %.3e relL2 %.3e   winograd: maxabs %.3e relL2 %.3e\n", cin,
               cout, res, d.maxabs, d.rel_l2, w.maxabs, w.rel_l2);
    }
}

/* ------------------------------------------------------------------ benchmarks */

static int reps(void) { const char* r = getenv("IE_REPS"); return r ? atoi(r) : 5; }

/* Other processes (builds) share this machine: before each measurement wait (up to 60 s) until the
 * CPUs are >= 90% idle over 0.3 s, so that medians are not taken under contention. IE_NOWAIT=1 skips. */
static int busy_waits = 0;
static void wait_idle(void)
{
    if (getenv("IE_NOWAIT")) return;
    for (int tries = 0; tries < 200; tries++) {
        unsigned long long v[2][8] = { { 0 } };
        for (int s = 0; s < 2; s++) {
            FILE* f = fopen("/proc/stat", "r");
            if (!f) return;
            if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[s][0], &v[s][1], &v[s][2], &v[s][3],
                       &v[s][4], &v[s][5], &v[s][6], &v[s][7]) != 8) { fclose(f); return; }
            fclose(f);
            if (s == 0) nanosleep(&(struct timespec){ 0, 300000000 }, NULL);
        }
        unsigned long long tot = 0;
        for (int i = 0; i < 8; i++) tot += v[1][i] - v[0][i];
        if (tot == 0 || (v[1][3] - v[0][3]) * 10 >= tot * 9) return;
        if (tries == 0) busy_waits++;
    }
    fprintf(stderr, "(machine still busy after 60 s: measuring anyway)\n");
}

static double bench_sgemm(int ta, int tb, int M, int N, int K)
{
    float* A = frand((size_t)M * K, 1), *Bm = frand((size_t)K * N, 1), *C = falloc((size_t)M * N);
    int R = reps();
    wait_idle();
    double t[64];
    ie_sgemm(ta, tb, M, N, K, 1, A, ta ? M : K, Bm, tb ? K : N, 0, C, N);
    for (int r = 0; r < R; r++) {
        int inner = 0;
        double t0 = now(), t1;
        do {
            ie_sgemm(ta, tb, M, N, K, 1, A, ta ? M : K, Bm, tb ? K : N, 0, C, N);
            inner++;
            t1 = now();
        } while (t1 - t0 < 0.05);
        t[r] = (t1 - t0) / inner;
    }
    double g = 2.0 * M * N * K / median(t, R) * 1e-9;
    printf("sgemm tA=%d tB=%d %5d x %5d x %5d : %7.1f GFLOP/s  %5.1f%% of peak\n", ta, tb, M, N, K, g,
           100 * g / PEAK_GFLOPS);
    free(A); free(Bm); free(C);
    return g;
}

typedef enum { DIRECT, WINO, WINO_PRE, BEST, BF16, BF16_WINO } algo_t;

static uint16_t* to_bf16(const float* w, size_t n)
{
    uint16_t* h = malloc(sizeof(uint16_t) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) h[i] = f2bf(w[i]);
    return h;
}

/* returns median seconds */
static double bench_conv(algo_t algo, int B, int cin, int cout, int res, int k, int quiet)
{
    int pad = k / 2;
    size_t nx = (size_t)B * cin * res * res, ny = (size_t)B * cout * res * res;
    float* x = frand(nx, 1), *w = frand((size_t)cout * cin * k * k, sqrt(3.0 / (cin * k * k)));
    float* bias = frand(cout, 0.1), *y = falloc(ny);
    float* wt = NULL;
    uint16_t* w16 = algo == BF16 || algo == BF16_WINO ? to_bf16(w, (size_t)cout * cin * k * k) : NULL;
    if (algo == BEST) algo = k == 3 && ie_conv3x3_winograd_pays(B, cin, res, res, cout) ? WINO_PRE : DIRECT;
    if (algo == WINO_PRE && k == 3) {
        wt = falloc(ie_winograd_weights_size(cin, cout));
        ie_winograd_transform_weights(w, wt, cin, cout);
    }
    int R = reps();
    double t[64];
    wait_idle();
    for (int r = -1; r < R; r++) {
        int inner = 0;
        double t0 = now(), t1;
        do {
            if (algo == BF16_WINO && k == 3) ie_conv3x3_winograd_bf16_ex(x, w16, bias, NULL, y, B, cin, res, res, cout, 0);
            else if (w16) ie_conv2d_bf16_ex(x, w16, bias, NULL, y, B, cin, res, res, cout, k, k, 1, pad, 0);
            else if (algo == DIRECT || k != 3) ie_conv2d_f32(x, w, bias, NULL, y, B, cin, res, res, cout, k, k, 1, pad);
            else if (algo == WINO) ie_conv3x3_winograd_f32(x, w, bias, NULL, y, B, cin, res, res, cout);
            else ie_conv3x3_winograd_pretransformed_f32(x, wt, bias, NULL, y, B, cin, res, res, cout);
            inner++;
            t1 = now();
        } while (t1 - t0 < 0.02);
        if (r >= 0) t[r] = (t1 - t0) / inner;
    }
    double sec = median(t, R);
    double g = 2.0 * B * cout * cin * k * k * res * res / sec * 1e-9;
    if (!quiet)
        printf("  %4d->%-4d %dx%d @%-3d : %8.3f ms  %7.1f GFLOP/s  %5.1f%%%s\n", cin, cout, k, k, res, sec * 1e3, g,
               100 * g / PEAK_GFLOPS, algo == WINO_PRE && k == 3 ? "  (winograd)" : "");
    free(x); free(w); free(bias); free(y); free(wt); free(w16);
    return sec;
}

/* ResNet-50 convolutions at 224x224: input resolution, Cin, Cout, kernel, stride, count per forward,
 * residual (the conv3 of a bottleneck adds the identity). All run with bias and the fused ReLU except
 * the downsample convs. */
typedef struct { int res, cin, cout, k, s, count, add, relu; } rn_shape;
static const rn_shape rn50[] = {
    { 224, 3, 64, 7, 2, 1, 0, 1 },
    { 56, 64, 64, 1, 1, 1, 0, 1 }, { 56, 64, 64, 3, 1, 3, 0, 1 }, { 56, 64, 256, 1, 1, 3, 1, 1 },
    { 56, 64, 256, 1, 1, 1, 0, 0 }, { 56, 256, 64, 1, 1, 2, 0, 1 },
    { 56, 256, 128, 1, 1, 1, 0, 1 }, { 56, 128, 128, 3, 2, 1, 0, 1 }, { 28, 128, 512, 1, 1, 4, 1, 1 },
    { 56, 256, 512, 1, 2, 1, 0, 0 }, { 28, 512, 128, 1, 1, 3, 0, 1 }, { 28, 128, 128, 3, 1, 3, 0, 1 },
    { 28, 512, 256, 1, 1, 1, 0, 1 }, { 28, 256, 256, 3, 2, 1, 0, 1 }, { 14, 256, 1024, 1, 1, 6, 1, 1 },
    { 28, 512, 1024, 1, 2, 1, 0, 0 }, { 14, 1024, 256, 1, 1, 5, 0, 1 }, { 14, 256, 256, 3, 1, 5, 0, 1 },
    { 14, 1024, 512, 1, 1, 1, 0, 1 }, { 14, 512, 512, 3, 2, 1, 0, 1 }, { 7, 512, 2048, 1, 1, 3, 1, 1 },
    { 14, 1024, 2048, 1, 2, 1, 0, 0 }, { 7, 2048, 512, 1, 1, 2, 0, 1 }, { 7, 512, 512, 3, 1, 2, 0, 1 },
};
#define NRN ((int)(sizeof rn50 / sizeof *rn50))

/* ms per call of one ResNet conv at batch B; algo DIRECT (ie_conv2d_ex_f32) or BEST (winograd_ex
 * where it pays, per-call weight transform included: what the backend runs) */
static double bench_rn(algo_t algo, int B, const rn_shape* r)
{
    const int pad = r->k / 2, ho = (r->res + 2 * pad - r->k) / r->s + 1;
    size_t nx = (size_t)B * r->cin * r->res * r->res, ny = (size_t)B * r->cout * ho * ho;
    float* x = frand(nx, 1), *w = frand((size_t)r->cout * r->cin * r->k * r->k, sqrt(3.0 / (r->cin * r->k * r->k)));
    float* bias = frand(r->cout, 0.1), *y = falloc(ny), *add = r->add ? frand(ny, 1) : NULL;
    uint16_t* w16 = algo == BF16 ? to_bf16(w, (size_t)r->cout * r->cin * r->k * r->k) : NULL;
    const int wino = algo == BEST && r->k == 3 && r->s == 1 && ie_conv3x3_winograd_pays(B, r->cin, r->res, r->res, r->cout);
    int R = reps();
    double t[64];
    wait_idle();
    for (int q = -1; q < R; q++) {
        int inner = 0;
        double t0 = now(), t1;
        do {
            if (w16) ie_conv2d_bf16_ex(x, w16, bias, add, y, B, r->cin, r->res, r->res, r->cout, r->k, r->k, r->s, pad, r->relu);
            else if (wino) ie_conv3x3_winograd_ex_f32(x, w, bias, add, y, B, r->cin, r->res, r->res, r->cout, r->relu);
            else ie_conv2d_ex_f32(x, w, bias, add, y, B, r->cin, r->res, r->res, r->cout, r->k, r->k, r->s, pad, r->relu);
            inner++;
            t1 = now();
        } while (t1 - t0 < 0.05);
        if (q >= 0) t[q] = (t1 - t0) / inner;
    }
    double sec = median(t, R);
    double g = 2.0 * B * r->cout * r->cin * r->k * r->k * ho * ho / sec * 1e-9;
    printf("  %3d %4d->%-4d %dx%d s%d x%d%s : %8.3f ms  %7.1f GFLOP/s  %5.1f%%%s\n", r->res, r->cin, r->cout, r->k, r->k,
           r->s, r->count, r->add ? " +add" : "     ", sec * 1e3, g, 100 * g / PEAK_GFLOPS, wino ? "  (winograd)" : "");
    free(x); free(w); free(bias); free(y); free(add); free(w16);
    return sec;
}

static void bench_resnet(algo_t algo, const char* only)
{
    const char* bs = getenv("IE_BATCH");
    const int B = bs ? atoi(bs) : 32;
    printf("ResNet-50 convolutions, batch %d, %s, %d threads:\n", B,
           algo == BEST ? "as the backend runs them" : algo == BF16 ? "bf16 direct" : "direct",
           ie_get_num_threads());
    double tt = 0, tf = 0;
    for (int i = 0; i < NRN; i++) {
        const rn_shape* r = &rn50[i];
        if (only && atoi(only) != i) continue;
        double sec = bench_rn(algo, B, r);
        const int ho = (r->res + 2 * (r->k / 2) - r->k) / r->s + 1;
        tt += sec * r->count;
        tf += 2.0 * B * r->cout * r->cin * r->k * r->k * ho * ho * r->count;
    }
    printf("total %.1f ms per forward's convolutions, %.1f GFLOP/s\n", tt * 1e3, tf / tt * 1e-9);
}

static void bench_adm(algo_t algo, const char* name)
{
    printf("ADM-256 conv list, %s, %d threads (GFLOP/s counts direct-conv FLOPs):\n", name, ie_get_num_threads());
    double total_t = 0, total_f = 0;
    for (int i = 0; i < NADM; i++) {
        const adm_shape* a = &adm[i];
        double sec = bench_conv(algo, 1, a->cin, a->cout, a->res, a->k, 0);
        total_t += sec * a->count;
        total_f += 2.0 * a->cout * a->cin * a->k * a->k * a->res * a->res * a->count;
    }
    printf("ADM-256 conv total (%s): %.3f s for %.1f GFLOP = %.1f GFLOP/s (%.1f%% of %.0f)\n", name, total_t,
           total_f * 1e-9, total_f / total_t * 1e-9, 100 * total_f / total_t * 1e-9 / PEAK_GFLOPS, PEAK_GFLOPS);
}

int main(int argc, char** argv)
{
    const char* mode = argc > 1 ? argv[1] : "test";
    const char* th = getenv("IE_THREADS");
    if (th) ie_set_num_threads(atoi(th));
    if (ie_get_num_threads() == 1) PEAK_GFLOPS = 265.0;
    if (!strcmp(mode, "test")) {
        test_sgemm();
        test_conv();
        if (!getenv("IE_NO_WINO") || !*getenv("IE_NO_WINO")) test_wino();
        test_batched();
        test_gemm_bf16();
        test_conv_bf16();
        test_wino_bf16_gemm();
        test_scratch_threads();
        printf("%d passed, %d failed\n", checks - failures, failures);
        return failures ? 1 : 0;
    }
    if (!strcmp(mode, "wbf16")) { test_wino_bf16_gemm(); return failures ? 1 : 0; }   /* that test alone */
    if (!strcmp(mode, "scratch")) { test_scratch_threads(); return failures ? 1 : 0; }
    if (!strcmp(mode, "error")) { error_report(); return 0; }
    if (!strcmp(mode, "bench")) {
        const char* what = argc > 2 ? argv[2] : "all";
        int all = !strcmp(what, "all");
        printf("threads: %d\n", ie_get_num_threads());
        if (all || !strcmp(what, "sgemm")) {
            bench_sgemm(0, 0, 1024, 1024, 1024);
            bench_sgemm(0, 0, 2048, 2048, 2048);
            bench_sgemm(1, 0, 1024, 1024, 64);   /* attention S = Q^T K */
            bench_sgemm(0, 1, 64, 1024, 1024);   /* attention V W^T */
            bench_sgemm(0, 1, 256, 1024, 1024);  /* linear layer */
            bench_sgemm(0, 1, 1, 1024, 1024);    /* vector x matrix */
        }
        if (all || !strcmp(what, "adm")) bench_adm(DIRECT, "direct");
        if (all || !strcmp(what, "wino")) bench_adm(WINO, "winograd");
        if (all || !strcmp(what, "winopre")) bench_adm(WINO_PRE, "winograd pretransformed");
        if (all || !strcmp(what, "best")) bench_adm(BEST, "best: winograd (pretransformed) where it pays, else direct");
        if (!strcmp(what, "single")) { /* main shapes, 1 thread */
            ie_set_num_threads(1);
            PEAK_GFLOPS = 265.0;
            printf("single thread (%% of the 1-core peak 265 GFLOP/s):\n");
            bench_sgemm(0, 0, 1024, 1024, 1024);
            static const int sh[][4] = { { 256, 256, 256, 3 }, { 512, 512, 64, 3 }, { 512, 512, 32, 3 },
                                         { 1024, 1024, 16, 3 }, { 1024, 1024, 8, 3 }, { 512, 256, 256, 1 } };
            for (int i = 0; i < 6; i++) bench_conv(DIRECT, 1, sh[i][0], sh[i][1], sh[i][2], sh[i][3], 0);
            for (int i = 0; i < 3; i++) bench_conv(WINO_PRE, 1, sh[i][0], sh[i][1], sh[i][2], sh[i][3], 0);
        }
        if (busy_waits) printf("(waited for other processes to finish before %d measurements)\n", busy_waits);
        if (!strcmp(what, "gemm") && argc >= 8)   /* bench gemm TA TB M N K */
            bench_sgemm(atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]), atoi(argv[7]));
        if (!strcmp(what, "resnet"))
            bench_resnet(argc > 3 && argv[3][0] == 'd' ? DIRECT : argc > 3 && argv[3][0] == 'h' ? BF16 : BEST, argc > 4 ? argv[4] : NULL);
        if (!strcmp(what, "admbf16")) bench_adm(BF16, "bf16 direct");
        if (!strcmp(what, "admbf16w")) {
            ie_set_winograd_bf16(0);
            bench_adm(BF16_WINO, "bf16 winograd F(4x4), fp32 transforms");
            ie_set_winograd_bf16(1);
        }
        if (!strcmp(what, "admbf16g")) {
            ie_set_winograd_bf16(1);
            bench_adm(BF16_WINO, "bf16 winograd F(4x4), bf16 GEMM");
        }
        if (!strcmp(what, "conv") && argc >= 8) {
            /* bench conv CIN COUT RES K ALGO(d|w|p) */
            algo_t al = argv[7][0] == 'w' ? WINO : argv[7][0] == 'p' ? WINO_PRE : argv[7][0] == 'b' ? BEST
                      : argv[7][0] == 'h' ? BF16 : argv[7][0] == 'q' ? BF16_WINO : DIRECT;
            bench_conv(al, 1, atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]), 0);
        }
        return 0;
    }
    fprintf(stderr, "usage: %s test | error | bench [sgemm|adm|wino|winopre|all|conv CIN COUT RES K d|w|p|resnet [d|b [i]]]\n",
            argv[0]);
    return 2;
}
