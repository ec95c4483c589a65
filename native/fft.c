/* 2-D FFT of real planes and its input-gradient (see imagenete.h, section 3).
 *
 * Layout: the 1-D transforms run LANES at a time. A batch holds element e of LANES independent
 * sequences next to each other (re[e*LANES + l], im likewise, split real/imaginary), so every butterfly
 * is a vector operation over the lanes and no shuffles are needed. The row pass gathers LANES rows of a
 * plane into such a batch (a small transpose), the column pass gathers LANES columns.
 *
 * 1-D algorithm: Stockham autosort (no bit reversal), mixed radix 4/2/3/5; a length with another prime
 * factor runs as Bluestein's chirp-z transform, a circular convolution computed with a power-of-two
 * FFT of length m >= 2n-1. Data are float; every twiddle and chirp is computed in double (angles
 * reduced exactly with integer arithmetic) and rounded once. Inverse transforms use
 * ifft(z) = conj(fft(conj(z))).
 *
 * Plans are built per call (O(n) trigonometry, negligible next to the transforms); nothing is cached.
 */
#include "imagenete.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.14159265358979323846264338327950288
#define LANES 16       /* sequences per batch: one AVX-512 vector of floats (two AVX2 vectors) */
#define MAX_STAGES 64

typedef struct fft_plan {
    int n;
    int nst;                       /* Stockham stages (0 for n == 1 and for Bluestein) */
    int radix[MAX_STAGES];
    float* tw[MAX_STAGES];         /* stage st: w_p^k, p < len/r, 1 <= k < r: tw[2*(p*(r-1) + k-1)] (re, im) */
    /* Bluestein (n has a prime factor > 5): */
    int m;                         /* power of two >= 2n-1, or 0 */
    struct fft_plan* sub;          /* plan of length m */
    float* chirp;                  /* [n] complex: e^{-i pi k^2 / n} */
    float* bf;                     /* [m] complex: FFT_m(b) / m, b_j = conj(chirp_|j|) for |j| < n, wrapped */
    float* mem;                    /* owns tw, chirp, bf */
} fft_plan;

static void plan_free(fft_plan* p)
{
    if (!p) return;
    plan_free(p->sub);
    free(p->mem);
    free(p);
}

/* Forward, in place, double, radix 2 (m a power of two): only for building the Bluestein filter. */
static void dfft_pow2(double* re, double* im, int m)
{
    for (int i = 1, j = 0; i < m; i++) {
        int bit = m >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j ^= bit;
        if (i < j) {
            double t = re[i]; re[i] = re[j]; re[j] = t;
            t = im[i]; im[i] = im[j]; im[j] = t;
        }
    }
    for (int len = 2; len <= m; len <<= 1) {
        const int h = len / 2;
        for (int j = 0; j < h; j++) {
            const double a = -2.0 * PI * j / len, wr = cos(a), wi = sin(a);
            for (int i = 0; i < m; i += len) {
                const double ur = re[i + j], ui = im[i + j];
                const double vr = re[i + j + h] * wr - im[i + j + h] * wi;
                const double vi = re[i + j + h] * wi + im[i + j + h] * wr;
                re[i + j] = ur + vr; im[i + j] = ui + vi;
                re[i + j + h] = ur - vr; im[i + j + h] = ui - vi;
            }
        }
    }
}

static fft_plan* plan_new(int n)
{
    fft_plan* p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n;
    int rest = n, nst = 0;
    int radix[MAX_STAGES];
    while (rest % 4 == 0) { radix[nst++] = 4; rest /= 4; }
    while (rest % 2 == 0) { radix[nst++] = 2; rest /= 2; }
    while (rest % 3 == 0) { radix[nst++] = 3; rest /= 3; }
    while (rest % 5 == 0) { radix[nst++] = 5; rest /= 5; }
    if (rest == 1) {
        long total = 0;
        for (int st = 0, len = n; st < nst; len /= radix[st], st++) total += 2L * (len / radix[st]) * (radix[st] - 1);
        p->mem = malloc((size_t) (total ? total : 1) * sizeof(float));
        if (!p->mem) { free(p); return NULL; }
        float* t = p->mem;
        p->nst = nst;
        for (int st = 0, len = n; st < nst; len /= radix[st], st++) {
            const int r = radix[st], m = len / r;
            p->radix[st] = r;
            p->tw[st] = t;
            for (int q = 0; q < m; q++)
                for (int k = 1; k < r; k++) {
                    const double a = -2.0 * PI * (double) (((long) q * k) % len) / len;
                    *t++ = (float) cos(a);
                    *t++ = (float) sin(a);
                }
        }
        return p;
    }
    /* Bluestein */
    int m = 1;
    while (m < 2 * n - 1) m <<= 1;
    p->m = m;
    p->sub = plan_new(m);
    p->mem = malloc((size_t) (2 * n + 2 * m) * sizeof(float));
    double* dr = malloc((size_t) 2 * m * sizeof(double));
    if (!p->sub || !p->mem || !dr) { free(dr); plan_free(p); return NULL; }
    double* di = dr + m;
    p->chirp = p->mem;
    p->bf = p->mem + 2 * n;
    memset(dr, 0, (size_t) 2 * m * sizeof(double));
    for (int k = 0; k < n; k++) {
        const double a = -PI * (double) (((long) k * k) % (2L * n)) / n;
        p->chirp[2 * k] = (float) cos(a);
        p->chirp[2 * k + 1] = (float) sin(a);
        dr[k] = cos(a);
        di[k] = -sin(a);
        if (k > 0) { dr[m - k] = dr[k]; di[m - k] = di[k]; }
    }
    dfft_pow2(dr, di, m);
    for (int k = 0; k < m; k++) {
        p->bf[2 * k] = (float) (dr[k] / m);
        p->bf[2 * k + 1] = (float) (di[k] / m);
    }
    free(dr);
    return p;
}

/* Workspace floats fft_batch needs besides the data. */
static long plan_ws(const fft_plan* p)
{
    if (p->m) return 2L * p->m * LANES + plan_ws(p->sub);   /* the padded sequence, then the sub-FFT's */
    return 2L * p->n * LANES;                                /* the Stockham ping-pong buffer */
}

/* One Stockham stage of radix r at current length r*m and stride s (sl = s*LANES floats):
 * y[(r p + k) s + q] = w_p^k sum_j x[(p + j m) s + q] e^{-2 pi i j k / r}, w_p = e^{-2 pi i p / (r m)}. */
static void stage(int r, int m, long sl, const float* tw,
                  const float* restrict xr, const float* restrict xi, float* restrict yr, float* restrict yi)
{
    if (r == 4) {
        for (int p = 0; p < m; p++) {
            const float* w = tw + 6 * p;
            const float w1r = w[0], w1i = w[1], w2r = w[2], w2i = w[3], w3r = w[4], w3i = w[5];
            const long i0 = p * sl, i1 = (p + m) * sl, i2 = (p + 2L * m) * sl, i3 = (p + 3L * m) * sl;
            const long o0 = 4L * p * sl, o1 = o0 + sl, o2 = o1 + sl, o3 = o2 + sl;
            #pragma omp simd
            for (long e = 0; e < sl; e++) {
                const float t0r = xr[i0 + e] + xr[i2 + e], t0i = xi[i0 + e] + xi[i2 + e];
                const float t1r = xr[i0 + e] - xr[i2 + e], t1i = xi[i0 + e] - xi[i2 + e];
                const float t2r = xr[i1 + e] + xr[i3 + e], t2i = xi[i1 + e] + xi[i3 + e];
                /* t3 = -i (x1 - x3) */
                const float t3r = xi[i1 + e] - xi[i3 + e], t3i = xr[i3 + e] - xr[i1 + e];
                const float b1r = t1r + t3r, b1i = t1i + t3i;
                const float b2r = t0r - t2r, b2i = t0i - t2i;
                const float b3r = t1r - t3r, b3i = t1i - t3i;
                yr[o0 + e] = t0r + t2r;
                yi[o0 + e] = t0i + t2i;
                yr[o1 + e] = b1r * w1r - b1i * w1i;
                yi[o1 + e] = b1r * w1i + b1i * w1r;
                yr[o2 + e] = b2r * w2r - b2i * w2i;
                yi[o2 + e] = b2r * w2i + b2i * w2r;
                yr[o3 + e] = b3r * w3r - b3i * w3i;
                yi[o3 + e] = b3r * w3i + b3i * w3r;
            }
        }
    } else if (r == 2) {
        for (int p = 0; p < m; p++) {
            const float wr = tw[2 * p], wi = tw[2 * p + 1];
            const long i0 = p * sl, i1 = (p + m) * sl, o0 = 2L * p * sl, o1 = o0 + sl;
            #pragma omp simd
            for (long e = 0; e < sl; e++) {
                const float ar = xr[i0 + e], ai = xi[i0 + e], br = xr[i1 + e], bi = xi[i1 + e];
                const float dr = ar - br, di = ai - bi;
                yr[o0 + e] = ar + br;
                yi[o0 + e] = ai + bi;
                yr[o1 + e] = dr * wr - di * wi;
                yi[o1 + e] = dr * wi + di * wr;
            }
        }
    } else if (r == 3) {
        const float h = 0.866025403784438646763723170752936183f;   /* sin(2 pi / 3) */
        for (int p = 0; p < m; p++) {
            const float* w = tw + 4 * p;
            const float w1r = w[0], w1i = w[1], w2r = w[2], w2i = w[3];
            const long i0 = p * sl, i1 = (p + m) * sl, i2 = (p + 2L * m) * sl;
            const long o0 = 3L * p * sl, o1 = o0 + sl, o2 = o1 + sl;
            #pragma omp simd
            for (long e = 0; e < sl; e++) {
                const float sr = xr[i1 + e] + xr[i2 + e], si = xi[i1 + e] + xi[i2 + e];
                const float ur = xr[i0 + e] - 0.5f * sr, ui = xi[i0 + e] - 0.5f * si;
                /* v = -i h (x1 - x2) */
                const float vr = h * (xi[i1 + e] - xi[i2 + e]), vi = h * (xr[i2 + e] - xr[i1 + e]);
                const float b1r = ur + vr, b1i = ui + vi, b2r = ur - vr, b2i = ui - vi;
                yr[o0 + e] = xr[i0 + e] + sr;
                yi[o0 + e] = xi[i0 + e] + si;
                yr[o1 + e] = b1r * w1r - b1i * w1i;
                yi[o1 + e] = b1r * w1i + b1i * w1r;
                yr[o2 + e] = b2r * w2r - b2i * w2i;
                yi[o2 + e] = b2r * w2i + b2i * w2r;
            }
        }
    } else { /* r == 5 */
        const float c1 = 0.309016994374947424102293417182819059f;  /* cos(2 pi / 5) */
        const float c2 = -0.809016994374947424102293417182819059f; /* cos(4 pi / 5) */
        const float s1 = 0.951056516295153572116439333379382143f;  /* sin(2 pi / 5) */
        const float s2 = 0.587785252292473129168705954639072769f;  /* sin(4 pi / 5) */
        for (int p = 0; p < m; p++) {
            const float* w = tw + 8 * p;
            const long i0 = p * sl, i1 = (p + m) * sl, i2 = (p + 2L * m) * sl, i3 = (p + 3L * m) * sl, i4 = (p + 4L * m) * sl;
            const long o0 = 5L * p * sl;
            #pragma omp simd
            for (long e = 0; e < sl; e++) {
                const float t1r = xr[i1 + e] + xr[i4 + e], t1i = xi[i1 + e] + xi[i4 + e];
                const float t2r = xr[i2 + e] + xr[i3 + e], t2i = xi[i2 + e] + xi[i3 + e];
                const float t3r = xr[i1 + e] - xr[i4 + e], t3i = xi[i1 + e] - xi[i4 + e];
                const float t4r = xr[i2 + e] - xr[i3 + e], t4i = xi[i2 + e] - xi[i3 + e];
                const float a0r = xr[i0 + e], a0i = xi[i0 + e];
                const float b1r = a0r + c1 * t1r + c2 * t2r, b1i = a0i + c1 * t1i + c2 * t2i;
                const float b2r = a0r + c2 * t1r + c1 * t2r, b2i = a0i + c2 * t1i + c1 * t2i;
                /* d1 = -i (s1 t3 + s2 t4), d2 = -i (s2 t3 - s1 t4) */
                const float u1r = s1 * t3r + s2 * t4r, u1i = s1 * t3i + s2 * t4i;
                const float u2r = s2 * t3r - s1 * t4r, u2i = s2 * t3i - s1 * t4i;
                const float y1r = b1r + u1i, y1i = b1i - u1r;
                const float y4r = b1r - u1i, y4i = b1i + u1r;
                const float y2r = b2r + u2i, y2i = b2i - u2r;
                const float y3r = b2r - u2i, y3i = b2i + u2r;
                yr[o0 + e] = a0r + t1r + t2r;
                yi[o0 + e] = a0i + t1i + t2i;
                yr[o0 + sl + e] = y1r * w[0] - y1i * w[1];
                yi[o0 + sl + e] = y1r * w[1] + y1i * w[0];
                yr[o0 + 2 * sl + e] = y2r * w[2] - y2i * w[3];
                yi[o0 + 2 * sl + e] = y2r * w[3] + y2i * w[2];
                yr[o0 + 3 * sl + e] = y3r * w[4] - y3i * w[5];
                yi[o0 + 3 * sl + e] = y3r * w[5] + y3i * w[4];
                yr[o0 + 4 * sl + e] = y4r * w[6] - y4i * w[7];
                yi[o0 + 4 * sl + e] = y4r * w[7] + y4i * w[6];
            }
        }
    }
}

/* Forward DFT of LANES sequences of length p->n, in place: re, im [n][LANES]; ws: plan_ws floats. */
static void fft_batch(const fft_plan* p, float* re, float* im, float* ws)
{
    const int n = p->n;
    if (!p->m) {
        float *xr = re, *xi = im, *yr = ws, *yi = ws + (long) n * LANES;
        long s = 1;
        for (int st = 0, len = n; st < p->nst; st++) {
            const int r = p->radix[st];
            stage(r, len / r, s * LANES, p->tw[st], xr, xi, yr, yi);
            float* t = xr; xr = yr; yr = t;
            t = xi; xi = yi; yi = t;
            len /= r;
            s *= r;
        }
        if (xr != re) {
            memcpy(re, xr, (size_t) n * LANES * sizeof(float));
            memcpy(im, xi, (size_t) n * LANES * sizeof(float));
        }
        return;
    }
    /* Bluestein: X_k = c_k sum_j (x_j c_j) conj(c_{k-j}), c_k = e^{-i pi k^2/n};
     * the sum is a circular convolution of length m: ifft(fft(a) . fft(b)) */
    const int m = p->m;
    float* ar = ws, *ai = ws + (long) m * LANES, *sws = ws + 2L * m * LANES;
    for (int k = 0; k < n; k++) {
        const float cr = p->chirp[2 * k], ci = p->chirp[2 * k + 1];
        const long o = (long) k * LANES;
        #pragma omp simd
        for (int l = 0; l < LANES; l++) {
            ar[o + l] = re[o + l] * cr - im[o + l] * ci;
            ai[o + l] = re[o + l] * ci + im[o + l] * cr;
        }
    }
    memset(ar + (long) n * LANES, 0, (size_t) (m - n) * LANES * sizeof(float));
    memset(ai + (long) n * LANES, 0, (size_t) (m - n) * LANES * sizeof(float));
    fft_batch(p->sub, ar, ai, sws);
    for (int k = 0; k < m; k++) {          /* a <- conj(a . B / m): the inverse as a forward FFT */
        const float br = p->bf[2 * k], bi = p->bf[2 * k + 1];
        const long o = (long) k * LANES;
        #pragma omp simd
        for (int l = 0; l < LANES; l++) {
            const float xr = ar[o + l], xi = ai[o + l];
            ar[o + l] = xr * br - xi * bi;
            ai[o + l] = -(xr * bi + xi * br);
        }
    }
    fft_batch(p->sub, ar, ai, sws);
    for (int k = 0; k < n; k++) {          /* X_k = c_k conj(a_k) */
        const float cr = p->chirp[2 * k], ci = p->chirp[2 * k + 1];
        const long o = (long) k * LANES;
        #pragma omp simd
        for (int l = 0; l < LANES; l++) {
            const float xr = ar[o + l], xi = -ai[o + l];
            re[o + l] = xr * cr - xi * ci;
            im[o + l] = xr * ci + xi * cr;
        }
    }
}

/* Per-thread buffers: data re/im [maxn][LANES] each, then the workspace. */
typedef struct {
    fft_plan* ph, *pw;
    long per_thread;
    float* mem;
} fft2_ctx;

static int ctx_init(fft2_ctx* c, int H, int W)
{
    c->ph = plan_new(H);
    c->pw = W == H ? c->ph : plan_new(W);
    c->mem = NULL;
    if (!c->ph || !c->pw) return -1;
    const int nmax = H > W ? H : W;
    const long ws = plan_ws(c->ph) > plan_ws(c->pw) ? plan_ws(c->ph) : plan_ws(c->pw);
    c->per_thread = (2L * nmax * LANES + ws + 15) / 16 * 16;
    c->mem = aligned_alloc(64, (size_t) c->per_thread * omp_get_max_threads() * sizeof(float));
    return c->mem ? 0 : -1;
}

static void ctx_free(fft2_ctx* c)
{
    if (c->pw != c->ph) plan_free(c->pw);
    plan_free(c->ph);
    free(c->mem);
}

int ie_fft2_f32(const float* x, float* y, long P, int H, int W)
{
    fft2_ctx c;
    if (ctx_init(&c, H, W)) { ctx_free(&c); return -1; }
    const long HW = (long) H * W;
    const int nmax = H > W ? H : W;
    const long rb = (H + LANES - 1) / LANES, cb = (W + LANES - 1) / LANES;
    #pragma omp parallel
    {
        float* re = c.mem + c.per_thread * omp_get_thread_num();
        float* im = re + (long) nmax * LANES, *ws = im + (long) nmax * LANES;
        /* rows: LANES rows of a plane per batch, real input */
        #pragma omp for schedule(dynamic, 1)
        for (long it = 0; it < P * rb; it++) {
            const long p = it / rb;
            const int r0 = (int) (it % rb) * LANES, nr = H - r0 < LANES ? H - r0 : LANES;
            const float* xs = x + p * HW + (long) r0 * W;
            for (int j = 0; j < W; j++)
                for (int l = 0; l < LANES; l++) re[(long) j * LANES + l] = l < nr ? xs[(long) l * W + j] : 0.0f;
            memset(im, 0, (size_t) W * LANES * sizeof(float));
            fft_batch(c.pw, re, im, ws);
            float* ys = y + 2 * (p * HW + (long) r0 * W);
            for (int l = 0; l < nr; l++)
                for (int k = 0; k < W; k++) {
                    ys[2 * ((long) l * W + k)] = re[(long) k * LANES + l];
                    ys[2 * ((long) l * W + k) + 1] = im[(long) k * LANES + l];
                }
        }
        /* columns, in place in y: LANES columns of a plane per batch */
        #pragma omp for schedule(dynamic, 1)
        for (long it = 0; it < P * cb; it++) {
            const long p = it / cb;
            const int c0 = (int) (it % cb) * LANES, nc = W - c0 < LANES ? W - c0 : LANES;
            float* ys = y + 2 * (p * HW + c0);
            for (int i = 0; i < H; i++) {
                const float* row = ys + 2L * i * W;
                for (int l = 0; l < LANES; l++) {
                    re[(long) i * LANES + l] = l < nc ? row[2 * l] : 0.0f;
                    im[(long) i * LANES + l] = l < nc ? row[2 * l + 1] : 0.0f;
                }
            }
            fft_batch(c.ph, re, im, ws);
            for (int i = 0; i < H; i++) {
                float* row = ys + 2L * i * W;
                for (int l = 0; l < nc; l++) {
                    row[2 * l] = re[(long) i * LANES + l];
                    row[2 * l + 1] = im[(long) i * LANES + l];
                }
            }
        }
    }
    ctx_free(&c);
    return 0;
}

/* Re(ifft2_unnormalised(g)) = Re(conj(fft2(conj(g)))) = Re(fft2(conj(g))): conjugate on load, forward
 * transforms, keep the real part. */
int ie_fft2_grad_f32(const float* g, float* y, long P, int H, int W)
{
    fft2_ctx c;
    const long HW = (long) H * W;
    float* tmp = malloc((size_t) (2 * P * HW) * sizeof(float));   /* after the column pass, complex */
    if (!tmp || ctx_init(&c, H, W)) { free(tmp); if (tmp) ctx_free(&c); return -1; }
    const int nmax = H > W ? H : W;
    const long rb = (H + LANES - 1) / LANES, cb = (W + LANES - 1) / LANES;
    #pragma omp parallel
    {
        float* re = c.mem + c.per_thread * omp_get_thread_num();
        float* im = re + (long) nmax * LANES, *ws = im + (long) nmax * LANES;
        #pragma omp for schedule(dynamic, 1)
        for (long it = 0; it < P * cb; it++) {
            const long p = it / cb;
            const int c0 = (int) (it % cb) * LANES, nc = W - c0 < LANES ? W - c0 : LANES;
            const float* gs = g + 2 * (p * HW + c0);
            for (int i = 0; i < H; i++) {
                const float* row = gs + 2L * i * W;
                for (int l = 0; l < LANES; l++) {
                    re[(long) i * LANES + l] = l < nc ? row[2 * l] : 0.0f;
                    im[(long) i * LANES + l] = l < nc ? -row[2 * l + 1] : 0.0f;
                }
            }
            fft_batch(c.ph, re, im, ws);
            float* ts = tmp + 2 * (p * HW + c0);
            for (int i = 0; i < H; i++) {
                float* row = ts + 2L * i * W;
                for (int l = 0; l < nc; l++) {
                    row[2 * l] = re[(long) i * LANES + l];
                    row[2 * l + 1] = im[(long) i * LANES + l];
                }
            }
        }
        #pragma omp for schedule(dynamic, 1)
        for (long it = 0; it < P * rb; it++) {
            const long p = it / rb;
            const int r0 = (int) (it % rb) * LANES, nr = H - r0 < LANES ? H - r0 : LANES;
            const float* ts = tmp + 2 * (p * HW + (long) r0 * W);
            for (int j = 0; j < W; j++)
                for (int l = 0; l < LANES; l++) {
                    re[(long) j * LANES + l] = l < nr ? ts[2 * ((long) l * W + j)] : 0.0f;
                    im[(long) j * LANES + l] = l < nr ? ts[2 * ((long) l * W + j) + 1] : 0.0f;
                }
            fft_batch(c.pw, re, im, ws);
            float* ys = y + p * HW + (long) r0 * W;
            for (int l = 0; l < nr; l++)
                for (int k = 0; k < W; k++) ys[(long) l * W + k] = re[(long) k * LANES + l];
        }
    }
    ctx_free(&c);
    free(tmp);
    return 0;
}
