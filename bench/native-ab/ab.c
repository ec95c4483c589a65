/* Paired A/B timing of two builds of the native library in one process (bench/native-ab/run.sh builds them).
 *
 * Timings on these shared machines drift by 10-30% between runs minutes apart, more than most kernel changes
 * gain. Here both builds are loaded side by side (dlopen, RTLD_LOCAL) and called alternately on the same
 * buffers, so that drift hits both alike; the figure to read is the median of the per-pair ratios B/A.
 *
 *   ab A.so B.so resnet|adm [rounds] [fp32|bf16]   each convolution of the list alone, repeated on its buffers
 *   ab A.so B.so chain [rounds] [fp32|bf16]        ResNet-50's convolutions in network order at batch 32, each
 *                                                  output a fresh buffer (as the Java pool hands them out)
 * The convolutions go through ie_conv2d_auto_ex_f32 / ie_conv2d_auto_ex_bf16 (Winograd where the backend takes
 * it), with bias and ReLU; ResNet at batch 32 (IE_AB_BATCH), the ADM-256 list at batch 1. */
#define _DEFAULT_SOURCE
#include <dlfcn.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

typedef void (*conv_f)(const float*, const float*, const float*, const float*, float*, int, int, int, int, int, int,
                       int, int, int, int);
typedef int (*conv16_f)(const float*, const uint16_t*, const float*, const float*, float*, int, int, int, int, int,
                        int, int, int, int, int);
typedef struct { int res, cin, cout, k, s, count, add; } shape;

/* ResNet-50 at 224: each distinct convolution, how often it occurs, and whether it adds the residual */
static const shape resnet[] = {
    { 224, 3, 64, 7, 2, 1, 0 },     { 56, 64, 64, 1, 1, 1, 0 },     { 56, 64, 64, 3, 1, 3, 0 },
    { 56, 64, 256, 1, 1, 3, 1 },    { 56, 64, 256, 1, 1, 1, 0 },    { 56, 256, 64, 1, 1, 2, 0 },
    { 56, 256, 128, 1, 1, 1, 0 },   { 56, 128, 128, 3, 2, 1, 0 },   { 28, 128, 512, 1, 1, 4, 1 },
    { 56, 256, 512, 1, 2, 1, 0 },   { 28, 512, 128, 1, 1, 3, 0 },   { 28, 128, 128, 3, 1, 3, 0 },
    { 28, 512, 256, 1, 1, 1, 0 },   { 28, 256, 256, 3, 2, 1, 0 },   { 14, 256, 1024, 1, 1, 6, 1 },
    { 28, 512, 1024, 1, 2, 1, 0 },  { 14, 1024, 256, 1, 1, 5, 0 },  { 14, 256, 256, 3, 1, 5, 0 },
    { 14, 1024, 512, 1, 1, 1, 0 },  { 14, 512, 512, 3, 2, 1, 0 },   { 7, 512, 2048, 1, 1, 3, 1 },
    { 14, 1024, 2048, 1, 2, 1, 0 }, { 7, 2048, 512, 1, 1, 2, 0 },   { 7, 512, 512, 3, 1, 2, 0 },
};
/* ADM-256 (guided-diffusion's 256x256 unconditional UNet): the same list as native/test/ie_test.c */
static const shape adm[] = {
    { 256, 3, 256, 3, 1, 1, 0 },    { 256, 256, 256, 3, 1, 11, 0 }, { 256, 512, 256, 3, 1, 3, 0 },
    { 256, 512, 256, 1, 1, 3, 0 },  { 128, 256, 256, 3, 1, 6, 0 },  { 128, 768, 256, 3, 1, 1, 0 },
    { 128, 512, 256, 3, 1, 2, 0 },  { 128, 768, 256, 1, 1, 1, 0 },  { 128, 512, 256, 1, 1, 2, 0 },
    { 128, 512, 512, 3, 1, 2, 0 },  { 64, 256, 512, 3, 1, 1, 0 },   { 64, 512, 512, 3, 1, 5, 0 },
    { 64, 256, 512, 1, 1, 1, 0 },   { 64, 256, 256, 3, 1, 2, 0 },   { 64, 1024, 512, 3, 1, 2, 0 },
    { 64, 768, 512, 3, 1, 1, 0 },   { 64, 1024, 512, 1, 1, 2, 0 },  { 64, 768, 512, 1, 1, 1, 0 },
    { 32, 512, 512, 3, 1, 8, 0 },   { 32, 1536, 512, 3, 1, 1, 0 },  { 32, 1024, 512, 3, 1, 2, 0 },
    { 32, 1536, 512, 1, 1, 1, 0 },  { 32, 1024, 512, 1, 1, 2, 0 },  { 32, 1024, 1024, 3, 1, 2, 0 },
    { 16, 512, 1024, 3, 1, 1, 0 },  { 16, 1024, 1024, 3, 1, 10, 0 }, { 16, 512, 1024, 1, 1, 1, 0 },
    { 16, 2048, 1024, 3, 1, 2, 0 }, { 16, 1536, 1024, 3, 1, 1, 0 }, { 16, 2048, 1024, 1, 1, 2, 0 },
    { 16, 1536, 1024, 1, 1, 1, 0 }, { 8, 1024, 1024, 3, 1, 13, 0 }, { 8, 2048, 1024, 3, 1, 3, 0 },
    { 8, 2048, 1024, 1, 1, 3, 0 },  { 256, 256, 6, 3, 1, 1, 0 },
};

typedef struct { conv_f f32; conv16_f bf16; } lib;
static lib libs[2];
static int bf, batch = 32;

static int cmpd(const void* a, const void* b)
{
    const double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

static double median(double* v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmpd);
    return v[n / 2];
}

static lib load(const char* path)
{
    void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "ab: %s\n", dlerror());
        exit(2);
    }
    lib l = { (conv_f)dlsym(h, "ie_conv2d_auto_ex_f32"), (conv16_f)dlsym(h, "ie_conv2d_auto_ex_bf16") };
    if (!l.f32 || !l.bf16) {
        fprintf(stderr, "ab: %s lacks ie_conv2d_auto_ex_f32 / ie_conv2d_auto_ex_bf16\n", path);
        exit(2);
    }
    return l;
}

/* n floats; from 2 MB on in transparent huge pages, as the Java runtime allocates its tensors (NativeMemory): with 4 KB
 * pages the packers' strided rows cost a TLB miss each */
static float* falloc(size_t n)
{
    const size_t huge = (size_t)1 << 21, bytes = n * sizeof(float), al = bytes >= huge ? huge : 64;
    const size_t size = (bytes + al - 1) / al * al;
    float* p = aligned_alloc(al, size ? size : al);
    if (!p) {
        fprintf(stderr, "ab: out of memory\n");
        exit(2);
    }
    if (al == huge) madvise(p, size, MADV_HUGEPAGE);
    return p;
}

static void fill(float* p, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++) p[i] = ((float)(rand() % 2001) / 1000.0f - 1.0f) * scale;
}

static void to_bf16(const float* w, uint16_t* w16, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, w + i, sizeof u);
        w16[i] = (uint16_t)(u >> 16);
    }
}

/* one convolution (stride s, pad k/2, ReLU) with build m */
static void conv(int m, const float* x, const float* w, const uint16_t* w16, const float* bias, const float* add,
                 float* y, int B, int cin, int res, int cout, int k, int s)
{
    if (bf) libs[m].bf16(x, w16, bias, add, y, B, cin, res, res, cout, k, k, s, k / 2, 1);
    else libs[m].f32(x, w, bias, add, y, B, cin, res, res, cout, k, k, s, k / 2, 1);
}

static void convs(const shape* list, int n, int B, int rounds)
{
    double ta = 0, tb = 0;
    for (int i = 0; i < n; i++) {
        const shape* r = &list[i];
        const int ho = (r->res + 2 * (r->k / 2) - r->k) / r->s + 1;
        const size_t nx = (size_t)B * r->cin * r->res * r->res, ny = (size_t)B * r->cout * ho * ho,
                     nw = (size_t)r->cout * r->cin * r->k * r->k;
        float *x = falloc(nx), *y = falloc(ny), *w = falloc(nw), *add = falloc(ny), *bias = falloc((size_t)r->cout);
        uint16_t* w16 = aligned_alloc(64, (nw * 2 + 63) / 64 * 64);
        fill(x, nx, 1.0f);
        fill(w, nw, 0.05f);
        fill(add, ny, 0.1f);
        fill(bias, (size_t)r->cout, 0.01f);
        to_bf16(w, w16, nw);
        double a[64], b[64], q[64];
        for (int it = 0; it <= rounds; it++) {   /* round 0 warms both up */
            double t[2];
            for (int m = 0; m < 2; m++) {
                const double t0 = omp_get_wtime();
                conv(m, x, w, w16, bias, r->add ? add : NULL, y, B, r->cin, r->res, r->cout, r->k, r->s);
                t[m] = omp_get_wtime() - t0;
            }
            if (it) { a[it - 1] = t[0]; b[it - 1] = t[1]; q[it - 1] = t[1] / t[0]; }
        }
        const double ma = median(a, rounds), mb = median(b, rounds), mq = median(q, rounds);
        printf("%4d %4d->%-4d %dx%d s%d x%-2d%s  A %8.3f ms  B %8.3f ms  B/A %.3f (%.3f-%.3f)\n", r->res, r->cin,
               r->cout, r->k, r->k, r->s, r->count, r->add ? " +add" : "     ", ma * 1e3, mb * 1e3, mq, q[0],
               q[rounds - 1]);
        ta += ma * r->count;
        tb += mb * r->count;
        free(x); free(y); free(w); free(add); free(bias); free(w16);
    }
    printf("total (each times its count): A %.1f ms  B %.1f ms  B/A %.3f\n", ta * 1e3, tb * 1e3, tb / ta);
}

/* ---- ResNet-50's convolutions in network order (bottlenecks: 1x1, 3x3 with the stage's stride, 1x1 + residual) */

#define NBUF 6
static float* buf[NBUF];

/* per stage: the bottleneck width (the output has 4x as many channels) and the number of blocks */
static const int mids[4] = { 64, 128, 256, 512 }, blocks[4] = { 3, 4, 6, 3 };

typedef struct { float *w, *bias; uint16_t* w16; } layer;

static layer make_layer(int cout, int cin, int k)
{
    const size_t n = (size_t)cout * cin * k * k;
    layer l = { falloc(n), falloc((size_t)cout), aligned_alloc(64, (n * 2 + 63) / 64 * 64) };
    fill(l.w, n, 0.5f / (float)(cin * k));   /* keeps the activations near unit size through 53 layers */
    fill(l.bias, (size_t)cout, 0.01f);
    to_bf16(l.w, l.w16, n);
    return l;
}

/* the next ring buffer that is none of the ones in use */
static float* next_buf(const float* u0, const float* u1, const float* u2)
{
    static int cur;
    for (;;) {
        cur = (cur + 1) % NBUF;
        if (buf[cur] != u0 && buf[cur] != u1 && buf[cur] != u2) return buf[cur];
    }
}

static double chain_forward(int m, const layer* L)
{
    const int B = batch;
    const double t0 = omp_get_wtime();
    int li = 0;
    float* y = next_buf(buf[0], NULL, NULL);
    conv(m, buf[0], L[li].w, L[li].w16, L[li].bias, NULL, y, B, 3, 224, 64, 7, 2);
    li++;
    /* the max pool's stand-in (not timed apart): every other pixel of every other row */
    float* x = next_buf(buf[0], y, NULL);
    for (long c = 0; c < (long)B * 64; c++)
        for (int i = 0; i < 56; i++)
            for (int j = 0; j < 56; j++) x[c * 3136 + i * 56 + j] = y[c * 12544 + 2 * i * 112 + 2 * j];
    int in = 64, H = 56;
    for (int st = 0; st < 4; st++)
        for (int b = 0; b < blocks[st]; b++) {
            const int mid = mids[st], out = 4 * mid, s = st > 0 && b == 0 ? 2 : 1, Ho = H / s;
            float* t1 = next_buf(buf[0], x, NULL);
            conv(m, x, L[li].w, L[li].w16, L[li].bias, NULL, t1, B, in, H, mid, 1, 1);
            float* t2 = next_buf(buf[0], x, t1);
            conv(m, t1, L[li + 1].w, L[li + 1].w16, L[li + 1].bias, NULL, t2, B, mid, H, mid, 3, s);
            const layer* l3 = &L[li + 2];
            li += 3;
            float* id = x;
            if (b == 0) {
                id = next_buf(buf[0], x, t2);
                conv(m, x, L[li].w, L[li].w16, L[li].bias, NULL, id, B, in, H, out, 1, s);
                li++;
            }
            float* o = next_buf(buf[0], id, t2);
            conv(m, t2, l3->w, l3->w16, l3->bias, id, o, B, mid, Ho, out, 1, 1);
            x = o;
            in = out;
            H = Ho;
        }
    return omp_get_wtime() - t0;
}

static void chain(int rounds)
{
    const size_t n = (size_t)batch * 64 * 112 * 112;   /* the largest activation */
    for (int i = 0; i < NBUF; i++) {
        buf[i] = mmap(NULL, n * sizeof(float), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (buf[i] == MAP_FAILED) {
            fprintf(stderr, "ab: out of memory\n");
            exit(2);
        }
        madvise(buf[i], n * sizeof(float), MADV_HUGEPAGE);
        memset(buf[i], 0, n * sizeof(float));
    }
    fill(buf[0], (size_t)batch * 3 * 224 * 224, 1.0f);
    layer L[53];
    int nl = 0;
    L[nl++] = make_layer(64, 3, 7);
    int in = 64;
    for (int st = 0; st < 4; st++)
        for (int b = 0; b < blocks[st]; b++) {
            const int mid = mids[st];
            L[nl++] = make_layer(mid, in, 1);
            L[nl++] = make_layer(mid, mid, 3);
            L[nl++] = make_layer(4 * mid, mid, 1);
            if (b == 0) L[nl++] = make_layer(4 * mid, in, 1);
            in = 4 * mid;
        }
    double a[64], b[64], q[64];
    for (int it = 0; it <= rounds; it++) {
        const double ta = chain_forward(0, L), tb = chain_forward(1, L);
        if (it) { a[it - 1] = ta; b[it - 1] = tb; q[it - 1] = tb / ta; }
    }
    const double ma = median(a, rounds), mb = median(b, rounds), mq = median(q, rounds);
    printf("ResNet-50 convolutions in order, batch %d, %s: A %.1f ms  B %.1f ms  B/A %.3f (%.3f-%.3f)\n", batch,
           bf ? "bf16" : "fp32", ma * 1e3, mb * 1e3, mq, q[0], q[rounds - 1]);
}

int main(int argc, char** argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: ab A.so B.so resnet|adm|chain [rounds] [fp32|bf16]\n");
        return 2;
    }
    libs[0] = load(argv[1]);
    libs[1] = load(argv[2]);
    const char* what = argv[3];
    int rounds = argc > 4 ? atoi(argv[4]) : 7;
    if (rounds < 1) rounds = 1;
    if (rounds > 64) rounds = 64;
    bf = argc > 5 && !strcmp(argv[5], "bf16");
    if (getenv("IE_AB_BATCH")) batch = atoi(getenv("IE_AB_BATCH"));
    srand(1);
    printf("A = %s, B = %s, %s, %d rounds, %d threads\n", argv[1], argv[2], bf ? "bf16" : "fp32", rounds,
           omp_get_max_threads());
    if (!strcmp(what, "resnet")) convs(resnet, (int)(sizeof resnet / sizeof *resnet), batch, rounds);
    else if (!strcmp(what, "adm")) convs(adm, (int)(sizeof adm / sizeof *adm), 1, rounds);
    else if (!strcmp(what, "chain")) chain(rounds);
    else {
        fprintf(stderr, "ab: unknown list %s (resnet, adm, chain)\n", what);
        return 2;
    }
    return 0;
}
