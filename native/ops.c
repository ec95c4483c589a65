/* Elementwise ops, GroupNorm, resampling, linear and attention for the fast CPU backend.
 * Memory-bound loops are written so that gcc vectorises them (-O3, AVX-512 or AVX2); the heavy
 * products go through ie_sgemm (gemm.c). */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int ie_winograd_enabled = 1;

void ie_set_winograd(int on) { ie_winograd_enabled = on; }

void ie_conv2d_auto_ex_f32(const float* x, const float* w, const float* bias, const float* add, float* y,
                           int B, int Cin, int H, int W, int Cout, int KH, int KW, int stride, int pad, int relu) {
    if (ie_winograd_enabled && KH == 3 && KW == 3 && stride == 1 && pad == 1
            && ie_conv3x3_winograd_pays(B, Cin, H, W, Cout))
        ie_conv3x3_winograd_ex_f32(x, w, bias, add, y, B, Cin, H, W, Cout, relu);
    else
        ie_conv2d_ex_f32(x, w, bias, add, y, B, Cin, H, W, Cout, KH, KW, stride, pad, relu);
}

void ie_conv2d_auto_f32(const float* x, const float* w, const float* bias, const float* add, float* y,
                        int B, int Cin, int H, int W, int Cout, int KH, int KW, int stride, int pad) {
    ie_conv2d_auto_ex_f32(x, w, bias, add, y, B, Cin, H, W, Cout, KH, KW, stride, pad, 0);
}

int ie_conv2d_auto_ex_bf16(const float* x, const uint16_t* w, const float* bias, const float* add, float* y,
                           int B, int Cin, int H, int W, int Cout, int KH, int KW, int stride, int pad, int relu) {
    if (ie_winograd_enabled && KH == 3 && KW == 3 && stride == 1 && pad == 1
            && ie_conv3x3_winograd_pays(B, Cin, H, W, Cout))
        return ie_conv3x3_winograd_bf16_ex(x, w, bias, add, y, B, Cin, H, W, Cout, relu);
    return ie_conv2d_bf16_ex(x, w, bias, add, y, B, Cin, H, W, Cout, KH, KW, stride, pad, relu);
}

void ie_group_stats(const float* x, long n, float eps, double* mean, double* inv) {
    double s = 0, q = 0;
    for (long i0 = 0; i0 < n; i0 += IE_SUM_BLOCK) {
        const long i1 = i0 + IE_SUM_BLOCK < n ? i0 + IE_SUM_BLOCK : n;
        float fs = 0, fq = 0;
        #pragma omp simd reduction(+:fs, fq)
        for (long i = i0; i < i1; i++) {
            fs += x[i];
            fq += x[i] * x[i];
        }
        s += fs;
        q += fq;
    }
    const double m = s / n;
    double var = q / n - m * m;
    if (var < 0) var = 0;
    *mean = m;
    *inv = 1.0 / sqrt(var + eps);
}

void ie_group_norm_f32(const float* x, const float* gamma, const float* beta, const float* ss, float* y, double* stats,
                       int B, int C, long HW, int G, float eps, int silu) {
    const int cg = C / G;
    const long n = (long) cg * HW;
    #pragma omp parallel for schedule(dynamic, 1)
    for (int bg = 0; bg < B * G; bg++) {
        const int b = bg / G, g = bg % G;
        const float* xs = x + ((long) b * C + (long) g * cg) * HW;
        float* ys = y + ((long) b * C + (long) g * cg) * HW;
        double mean, inv;
        ie_group_stats(xs, n, eps, &mean, &inv);
        if (stats) {
            stats[2L * bg] = mean;
            stats[2L * bg + 1] = inv;
        }
        for (int cc = 0; cc < cg; cc++) {
            const int c = g * cg + cc;
            double a = inv * gamma[c];
            double o = beta[c] - mean * a;
            if (ss) {
                double sc = 1.0 + ss[(long) b * 2 * C + c], sh = ss[(long) b * 2 * C + C + c];
                a *= sc;
                o = o * sc + sh;
            }
            const float af = (float) a, of = (float) o;
            const float* xc = xs + cc * HW;
            float* yc = ys + cc * HW;
            if (silu) {
                #pragma omp simd
                for (long i = 0; i < HW; i++) yc[i] = ie_siluf(xc[i] * af + of);
            } else {
                #pragma omp simd
                for (long i = 0; i < HW; i++) yc[i] = xc[i] * af + of;
            }
        }
    }
}

#define CHUNK 65536L

void ie_silu_f32(const float* x, float* y, long n) {
    #pragma omp parallel for schedule(static)
    for (long c = 0; c < n; c += CHUNK) {
        long e = c + CHUNK < n ? c + CHUNK : n;
        #pragma omp simd
        for (long i = c; i < e; i++) y[i] = ie_siluf(x[i]);
    }
}

void ie_add_f32(const float* a, const float* b, float* y, long n) {
    #pragma omp parallel for schedule(static)
    for (long c = 0; c < n; c += CHUNK) {
        long e = c + CHUNK < n ? c + CHUNK : n;
        #pragma omp simd
        for (long i = c; i < e; i++) y[i] = a[i] + b[i];
    }
}

void ie_concat_f32(const float* a, const float* b, float* y, int B, long ia, long ib) {
    #pragma omp parallel for schedule(static)
    for (int s = 0; s < 2 * B; s++) {
        int bb = s / 2;
        if (s % 2 == 0) memcpy(y + bb * (ia + ib), a + bb * ia, ia * sizeof(float));
        else memcpy(y + bb * (ia + ib) + ia, b + bb * ib, ib * sizeof(float));
    }
}

void ie_upsample2x_f32(const float* x, float* y, long P, int H, int W) {
    #pragma omp parallel for schedule(static)
    for (long p = 0; p < P * H; p++) {
        const float* xr = x + p * W;
        float* y0 = y + p * 4 * W;   /* output rows 2r and 2r+1 of plane p/H are contiguous */
        for (int i = 0; i < W; i++) y0[2 * i] = y0[2 * i + 1] = xr[i];
        memcpy(y0 + 2 * W, y0, 2 * W * sizeof(float));
    }
}

void ie_avgpool2x_f32(const float* x, float* y, long P, int H, int W) {
    const int ho = H / 2, wo = W / 2;
    #pragma omp parallel for schedule(static)
    for (long p = 0; p < P * ho; p++) {
        const float* r0 = x + (p / ho * H + 2 * (p % ho)) * (long) W;
        const float* r1 = r0 + W;
        float* yr = y + p * wo;
        for (int i = 0; i < wo; i++) yr[i] = ((r0[2 * i] + r0[2 * i + 1]) + (r1[2 * i] + r1[2 * i + 1])) * 0.25f;
    }
}

/* Threads for a pass over a weight matrix of n floats: one below 256 KB (the fork would cost more). */
static int few_rows_threads(long n) {
    return n < 65536 ? 1 : ie_get_num_threads();
}

/* y[n, m] = x[n, :] . w[m, :] for at most IE_FEW_ROWS rows of x (a batch-1 embedding layer): each row of w is read
 * once, straight from memory, where the GEMM would first pack all of w; 16 partial sums per row in float64 (free in
 * a memory-bound loop). The ADM-tiny golden activation input_blocks.1 sits at 99% of its tolerance with the GEMM's
 * fp32 sums; fp32 partial sums here gave 115% (fused) and 123% (not fused), float64 gives 94%. */
static void linear_few_rows(const float* x, const float* w, float* y, int N, int K, int M) {
    #pragma omp parallel for schedule(static) num_threads(few_rows_threads((long) M * K))
    for (int m = 0; m < M; m++) {
        const float* wr = w + (long) m * K;
        for (int n = 0; n < N; n++) {
            const float* xr = x + (long) n * K;
            double acc[16] = { 0 };
            int k = 0;
            for (; k + 16 <= K; k += 16)
                for (int j = 0; j < 16; j++) acc[j] += (double) xr[k + j] * wr[k + j];
            double sum = 0;
            for (int j = 0; j < 16; j++) sum += acc[j];
            for (; k < K; k++) sum += (double) xr[k] * wr[k];
            y[(long) n * M + m] = (float) sum;
        }
    }
}

/* dx[n, :] = sum over m of dy[n, m] w[m, :] for at most IE_FEW_ROWS rows: each thread sums the rows of w in its range
 * of m into its own dx (T * N * K floats), and the partial sums are added at the end. Fused multiply-adds, as in the
 * GEMM (-std=c11 does not contract a * b + c by itself). Returns -1 when out of memory. */
__attribute__((optimize("fp-contract=fast")))
int ie_linear_grad_few_rows(const float* dy, const float* w, float* dx, int N, int M, int K) {
    const int T = few_rows_threads((long) M * K);
    float* part = T > 1 ? ie_alloc_floats((size_t) (T - 1) * N * K) : NULL;
    if (T > 1 && !part) return -1;
    #pragma omp parallel for schedule(static) num_threads(T)
    for (int t = 0; t < T; t++) {
        float* d = t == 0 ? dx : part + (size_t) (t - 1) * N * K;
        memset(d, 0, sizeof(float) * N * K);
        const int m0 = (int) ((long) M * t / T), m1 = (int) ((long) M * (t + 1) / T);
        for (int m = m0; m < m1; m++) {
            const float* wr = w + (long) m * K;
            for (int n = 0; n < N; n++) {
                const float g = dy[(long) n * M + m];
                float* dr = d + (long) n * K;
                for (int k = 0; k < K; k++) dr[k] += g * wr[k];
            }
        }
    }
    for (int t = 1; t < T; t++)
        for (long i = 0; i < (long) N * K; i++) dx[i] += part[(size_t) (t - 1) * N * K + i];
    free(part);
    return 0;
}

void ie_linear_f32(const float* x, const float* w, const float* bias, float* y, int N, int K, int M) {
    if (N <= IE_FEW_ROWS) linear_few_rows(x, w, y, N, K, M);
    else ie_sgemm(0, 1, N, M, K, 1.0f, x, K, w, K, 0.0f, y, M);
    if (bias)
        for (int i = 0; i < N; i++)
            for (int j = 0; j < M; j++) y[(long) i * M + j] += bias[j];
}

void ie_sgemm_serial(int transA, int transB, int M, int N, int K, float alpha, const float* A, int lda,
                     const float* B, int ldb, float beta, float* C, int ldc) {
    if (M <= 0 || N <= 0) return;
    ie_packb_plain pb = { B, ldb, transB != 0 };
    ie_gemm_job jb = ie_gemm_job_plain(transA, M, N, K, alpha, A, lda, beta, C, ldc);
    jb.packb = ie_packb_plain_fn; jb.bctx = &pb;
    ie_gemm_serial(&jb);
}

size_t ie_packed_b_size(int K, int N) {
    const int nr = ie_gemm_nr();
    return (size_t) (N + nr - 1) / nr * nr * K;
}

void ie_pack_b(const float* B, long ldb, int trans, int K, int N, float* dst) {
    const ie_packb_plain pb = { B, ldb, trans };
    ie_packb_plain_fn(&pb, 0, K, 0, N, dst);
}

void ie_gemm_packed_serial(int transA, int M, int N, int K, float alpha, const float* A, long lda, const float* bp,
                           float beta, float* C, long ldc) {
    ie_gemm_job jb = ie_gemm_job_plain(transA, M, N, K, alpha, A, lda, beta, C, ldc);
    jb.bpre = bp; jb.bpre_ld = (long) K * ie_gemm_nr();
    ie_gemm_serial(&jb);
}

float* ie_alloc_floats(size_t n) {
    return aligned_alloc(64, ie_round16(n ? n : 1) * sizeof(float));   /* C11: the size a multiple of 64 bytes */
}

int ie_attention_rows(int T) {
    /* blocks of scores [rows, T] of about 256 KB (L2), of equal size in whole 6-row GEMM tiles, 16 rows at least */
    if (T <= 0) return 1;
    int r = 65536 / T;
    if (r < 16) r = 16;
    if (r >= T) return T;
    const int nb = (T + r - 1) / r;
    r = ((T + nb - 1) / nb + 5) / 6 * 6;
    return r > T ? T : r;
}

void ie_store_transposed(const float* t, int rows, int ch, float* dst, long ld) {
    for (int c = 0; c < ch; c++)
        for (int j = 0; j < rows; j++) dst[(long) c * ld + j] = t[(long) j * ch + c];
}

void ie_softmax_rows_f32(float* w, int rows, int n) {
    for (int t = 0; t < rows; t++) {
        float* r = w + (long) t * n;
        float mx = -INFINITY;
        #pragma omp simd reduction(max:mx)
        for (int s = 0; s < n; s++) mx = r[s] > mx ? r[s] : mx;
        float z = 0;
        #pragma omp simd reduction(+:z)
        for (int s = 0; s < n; s++) {
            r[s] = ie_expf(r[s] - mx);
            z += r[s];
        }
        const float iz = 1.0f / z;
        #pragma omp simd
        for (int s = 0; s < n; s++) r[s] *= iz;
    }
}

/* One parallel region over (sample, head), serial GEMMs inside: a handful of tiny GEMMs per head would
 * otherwise pay a fork/join and barriers each (costly on a busy machine). Per head, the queries go in blocks of
 * rows (ie_attention_rows) whose scores stay in L2 (the whole [T, T] matrix, 4 MB at T = 1024, went to memory and
 * back three times); k and v^T are packed once for all blocks. */
int ie_attention_f32(const float* qkv, float* y, int B, int heads, int ch, int T) {
    const float scale2 = 1.0f / sqrtf((float) ch);
    const long C3 = 3L * heads * ch;
    const int tb = ie_attention_rows(T);
    const size_t np = ie_packed_b_size(ch, T), nv = ie_packed_b_size(T, ch);
    int failed = 0;
    #pragma omp parallel reduction(|:failed)
    {
        /* per thread: scores [tb, T], k and v^T packed (64-byte aligned: GEMM panels), a block of y^T [tb, ch] */
        const size_t ns = ie_round16((size_t) tb * T);
        float* wts = ie_alloc_floats(ns + np + nv + (size_t) tb * ch);
        if (!wts) failed = 1;
        #pragma omp for schedule(dynamic, 1)
        for (int u = 0; u < B * heads; u++) {
            if (!wts) continue;
            float* kp = wts + ns, *vp = kp + np, *yt = vp + nv;
            const int b = u / heads, n = u % heads;
            const float* q = qkv + (b * C3 + 3L * ch * n) * T;    /* [ch, T] */
            const float* k = q + (long) ch * T;
            const float* v = k + (long) ch * T;
            float* yh = y + ((long) b * heads * ch + (long) n * ch) * T;
            ie_pack_b(k, T, 0, ch, T, kp);
            ie_pack_b(v, T, 1, T, ch, vp);
            for (int t0 = 0; t0 < T; t0 += tb) {
                const int m = T - t0 < tb ? T - t0 : tb;
                /* wts[j, s] = sum_c q[c, t0 + j] k[c, s] / sqrt(ch), softmax over s */
                ie_gemm_packed_serial(1, m, T, ch, scale2, q + t0, T, kp, 0.0f, wts, T);
                ie_softmax_rows_f32(wts, m, T);
                /* y[c, t0 + j] = sum_s v[c, s] wts[j, s], as y^T */
                ie_gemm_packed_serial(0, m, ch, T, 1.0f, wts, T, vp, 0.0f, yt, ch);
                ie_store_transposed(yt, m, ch, yh + t0, T);
            }
        }
        free(wts);
    }
    return failed ? -1 : 0;
}
