/* Measures this machine's limits once: fp32 FMA peak (independent FMA chains), bf16 dot-product peak
 * (vdpbf16ps), 8-lane qword gathers from L1, and memory bandwidth (copy and triad over 1 GiB arrays). Prints JSON.
 * Build and run: bench/peak/run.sh (gcc -O2 -fopenmp -march=native). */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define CHAINS 12   /* > latency (4) x pipes (2): keeps both FMA pipes busy */

/* Returns FLOP done by one thread: iters * CHAINS FMAs of 16 lanes x 2 FLOP. */
static double fma_loop(long iters, float* sink) {
    __m512 acc[CHAINS];
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps(1.0f + i * 1e-3f);
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (long it = 0; it < iters; it++) {
        #pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    }
    __m512 s = acc[0];
    for (int i = 1; i < CHAINS; i++) s = _mm512_add_ps(s, acc[i]);
    *sink += _mm512_reduce_add_ps(s);
    return (double) iters * CHAINS * 16 * 2;
}

#ifdef __AVX512BF16__
/* vdpbf16ps: 16 lanes x 2 bf16 products accumulated in fp32 = 64 FLOP per instruction. */
static double bf16_loop(long iters, float* sink) {
    __m512 acc[CHAINS];
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_setzero_ps();
    const __m512bh a = (__m512bh) _mm512_set1_epi16(0x3f80), b = (__m512bh) _mm512_set1_epi16(0x3380);
    for (long it = 0; it < iters; it++) {
        #pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
    }
    __m512 s = acc[0];
    for (int i = 1; i < CHAINS; i++) s = _mm512_add_ps(s, acc[i]);
    *sink += _mm512_reduce_add_ps(s);
    return (double) iters * CHAINS * 64;
}
#endif

/* vgatherdpd of 8 qwords (16 floats, two adjacent taps per lane: the rotated composite's gather) from an L1-resident
 * table, 8 independent chains: returns the gathers done (not FLOP); the rate bounds any kernel built on gathers. */
static double gather_loop(long iters, float* sink) {
    static __thread double table[2048];
    for (int i = 0; i < 2048; i++) table[i] = i;
    __m512d acc[8];
    __m256i idx[8];
    for (int c = 0; c < 8; c++) {
        acc[c] = _mm512_setzero_pd();
        idx[c] = _mm256_set_epi32(7 * 131 + c, 6 * 131 + c, 5 * 131 + c, 4 * 131 + c, 3 * 131 + c, 2 * 131 + c, 131 + c, c);
    }
    const __m256i step = _mm256_set1_epi32(8), mask = _mm256_set1_epi32(2047);
    iters /= 4;
    for (long it = 0; it < iters; it++) {
        #pragma GCC unroll 8
        for (int c = 0; c < 8; c++) {
            acc[c] = _mm512_add_pd(acc[c], _mm512_i32gather_pd(idx[c], table, 8));
            idx[c] = _mm256_and_si256(_mm256_add_epi32(idx[c], step), mask);
        }
    }
    __m512d s = acc[0];
    for (int c = 1; c < 8; c++) s = _mm512_add_pd(s, acc[c]);
    *sink += (float) _mm512_reduce_add_pd(s);
    return (double) iters * 8;
}

typedef double (*loop_fn)(long, float*);

static double peak(loop_fn f, int threads, long iters) {
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        double flop = 0, t0 = now();
        float sink = 0;
        #pragma omp parallel num_threads(threads) reduction(+:flop, sink)
        flop += f(iters, &sink);
        double g = flop / (now() - t0) / 1e9;
        if (g > best) best = g;
        if (sink == 12345.0f) printf(" ");
    }
    return best;
}

static int cmp(const void* a, const void* b) {
    double x = *(const double*) a, y = *(const double*) b;
    return x < y ? -1 : x > y;
}

int main(void) {
    int threads = omp_get_max_threads();
    long iters = 200000000L / CHAINS;
    double f1 = peak(fma_loop, 1, iters), fn = peak(fma_loop, threads, iters);
    double b1 = 0, bn = 0;
#ifdef __AVX512BF16__
    b1 = peak(bf16_loop, 1, iters);
    bn = peak(bf16_loop, threads, iters);
#endif
    const double g1 = peak(gather_loop, 1, iters) * 1e9, gn = peak(gather_loop, threads, iters) * 1e9;
    size_t n = (1UL << 30) / sizeof(float);
    float *a = aligned_alloc(64, n * 4), *b = aligned_alloc(64, n * 4), *c = aligned_alloc(64, n * 4);
    #pragma omp parallel for
    for (size_t i = 0; i < n; i++) { a[i] = 0; b[i] = 1; c[i] = 2; }
    double copy[7], triad[7];
    for (int r = 0; r < 7; r++) {
        double t0 = now();
        #pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) a[i] = b[i];
        copy[r] = 2.0 * n * 4 / (now() - t0) / 1e9;
        t0 = now();
        #pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) a[i] = b[i] + 3.0f * c[i];
        triad[r] = 3.0 * n * 4 / (now() - t0) / 1e9;
    }
    qsort(copy, 7, sizeof(double), cmp);
    qsort(triad, 7, sizeof(double), cmp);
    printf("{\n  \"threads\": %d,\n  \"fp32_fma_gflops_1thread\": %.1f,\n  \"fp32_fma_gflops\": %.1f,\n"
           "  \"bf16_dot_gflops_1thread\": %.1f,\n  \"bf16_dot_gflops\": %.1f,\n"
           "  \"copy_gbs_median\": %.1f,\n  \"triad_gbs_median\": %.1f,\n"
           "  \"gather8q_per_s_1thread\": %.3g,\n  \"gather8q_per_s\": %.3g,\n"
           "  \"method\": \"best of 5 runs of %d independent 512-bit FMA (or vdpbf16ps) chains per thread; memory: median of 7 passes over 1 GiB float arrays, bytes read + written\"\n}\n",
           threads, f1, fn, b1, bn, copy[3], triad[3], g1, gn, CHAINS);
    free(a); free(b); free(c);
    return 0;
}
