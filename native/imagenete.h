/* imagenete native kernels: the public header, the one place that declares what libimagenete exports.
 * Every exported symbol is prefixed ie_ and declared here: the Java FFM bindings (org.imagenete.ops.cpu.CpuOps,
 * SamplerKernels), the C tests (native/test) and embedders call these and nothing else. What the .c files share
 * among themselves (the GEMM engine, scratch buffers, inline helpers) is in internal.h, hidden from the library's
 * symbol table; everything else in a .c file is static. (ops.h, grad.h and sampler.h were separate public headers
 * once; one header keeps the exported set in one place, and the build's -Wmissing-prototypes holds every exported
 * definition to a declaration here or in internal.h.)
 * Each kernel family has its own section; append new sections at the end. Sections:
 *   1. Threads, GEMM and convolution (gemm.c, conv.c, winograd.c, ops.c)
 *   2. Elementwise ops, normalisation, resampling, attention (ops.c, grouped.c, transformer.c)
 *   3. Input-gradients and the 2-D FFT (grad.c, fft.c)
 *   4. ResNet classifier ops: ReLU, pooling (pool.c)
 *   5. Affine compositing (composite.c)
 *   6. The sampler's arithmetic (sampler.c)
 */
#ifndef IMAGENETE_H
#define IMAGENETE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ===================================================================================== */
/* 1. Threads, GEMM and convolution (gemm.c, conv.c, winograd.c, ops.c)                   */
/*    All tensors fp32, contiguous, row-major (NCHW for images).                          */
/* ===================================================================================== */

/* OpenMP thread count used by all kernels (n <= 0: leave unchanged). */
void ie_set_num_threads(int n);
int  ie_get_num_threads(void);

/* General SGEMM, row-major: C[M,N] = alpha * op(A)[M,K] @ op(B)[K,N] + beta * C.
 * op(A) = A (A is [M,K], lda >= K) or A^T (transA = 1: A is [K,M], lda >= M); same for B.
 * beta == 0: C is not read (may hold NaN). M, N, K >= 0 (K == 0 gives C = beta*C). */
void ie_sgemm(int transA, int transB, int M, int N, int K, float alpha,
              const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc);

/* Direct convolution (implicit GEMM):
 * y[b,co,oy,ox] = bias[co] + sum_{ci,ky,kx} w[co,ci,ky,kx] * x[b,ci,oy*stride+ky-pad, ox*stride+kx-pad]
 *                 (+ add[b,co,oy,ox] when add != NULL: fused residual add)
 * x [B,Cin,H,W], w [Cout,Cin,KH,KW], bias [Cout] or NULL, add/y [B,Cout,Ho,Wo],
 * Ho = (H+2*pad-KH)/stride+1, Wo likewise. Any KH, KW, stride >= 1, pad >= 0.
 * y must not alias x; y may alias add. */
void ie_conv2d_f32(const float* x, const float* w, const float* bias, const float* add, float* y,
                   int B, int Cin, int H, int W, int Cout, int KH, int KW, int stride, int pad);

/* The same with a fused ReLU when relu != 0: y = max(0, conv + bias + add). */
void ie_conv2d_ex_f32(const float* x, const float* w, const float* bias, const float* add, float* y,
                      int B, int Cin, int H, int W, int Cout, int KH, int KW, int stride, int pad, int relu);

/* Winograd F(4x4,3x3) convolution, 3x3, stride 1, pad 1 (same semantics as ie_conv2d_f32 with
 * KH=KW=3, stride=1, pad=1). Transforms the weights on every call and uses the direct path where
 * that does not pay (small images). Rounding error ~10x the direct conv's (relative L2 ~2e-6). */
void ie_conv3x3_winograd_f32(const float* x, const float* w, const float* bias, const float* add,
                             float* y, int B, int Cin, int H, int W, int Cout);

/* The same with a fused ReLU when relu != 0 (see ie_conv2d_ex_f32). */
void ie_conv3x3_winograd_ex_f32(const float* x, const float* w, const float* bias, const float* add,
                                float* y, int B, int Cin, int H, int W, int Cout, int relu);

/* Same with weights transformed once (load time): ie_winograd_weights_size() floats in wt
 * (36 padded planes of Cout*Cin, 4x the weights), filled by ie_winograd_transform_weights(w [Cout,Cin,3,3]).
 * Always runs Winograd: ask ie_conv3x3_winograd_pays(...) whether that beats ie_conv2d_f32 for
 * a shape (e.g. ADM-256: yes at 32x32 and above, no at 16x16 and 8x8). */
size_t ie_winograd_weights_size(int Cin, int Cout);
void ie_winograd_transform_weights(const float* w, float* wt, int Cin, int Cout);
void ie_conv3x3_winograd_pretransformed_f32(const float* x, const float* wt, const float* bias,
                                            const float* add, float* y,
                                            int B, int Cin, int H, int W, int Cout);
/* The transposed convolution of a 3x3, stride 1, pad 1 conv Cout -> Cin with weights w [Cin, Cout, 3, 3]:
 * the conv Cin -> Cout of x [B, Cin, H, W] whose kernel [co, ci] is w[ci, co] rotated by 180 degrees (the
 * input-gradient dx of that conv, with x = dy), by Winograd with the weights transformed from w as they are:
 * no transposed copy. Returns -1 when out of memory. Only where ie_conv3x3_winograd_pays(B, Cin, H, W, Cout). */
int ie_conv3x3_winograd_transposed_f32(const float* x, const float* w, float* y, int B, int Cin, int H, int W, int Cout);
/* 1 if Winograd (with weights pretransformed, or transformed per call) is faster than the direct
 * convolution for this shape on this build. */
int ie_conv3x3_winograd_pays(int B, int Cin, int H, int W, int Cout);

/* The convolution the backend runs: Winograd F(4x4,3x3) for 3x3 stride-1 pad-1 convolutions where it pays
 * (ie_conv3x3_winograd_pays: enough 4x4 tiles and channels), the direct implicit GEMM otherwise. Same
 * semantics as ie_conv2d_f32. ie_set_winograd(0) forces the direct path (for accuracy comparisons). */
void ie_conv2d_auto_f32(const float* x, const float* w, const float* bias, const float* add, float* y,
                        int B, int Cin, int H, int W, int Cout, int KH, int KW, int stride, int pad);
/* The same followed by ReLU when relu != 0 (fused into the epilogue: y = max(0, conv + bias + add)). */
void ie_conv2d_auto_ex_f32(const float* x, const float* w, const float* bias, const float* add, float* y,
                           int B, int Cin, int H, int W, int Cout, int KH, int KW, int stride, int pad, int relu);
void ie_set_winograd(int on);

/* ---- bf16 operands (AVX-512 BF16: vdpbf16ps), fp32 accumulation ----
 * Weights come as bf16 bit patterns (uint16, converted once by the caller); activations are rounded to bf16
 * (to nearest even) while packed; products are exact and summed in fp32. Where the CPU lacks AVX-512 BF16
 * (ie_has_bf16() == 0) every entry below runs the fp32 kernels on the weights widened to fp32. */

/* 1 when the CPU executes vdpbf16ps and this library was built for it. */
int ie_has_bf16(void);

/* C[M,N] = op(A)[M,K] @ op(B)[K,N] + beta * C, A bf16 row-major, op(A) = A [M, K] (lda >= K) or, transA, A^T of
 * A [K, M] (lda >= M); B fp32 (transB as in ie_sgemm). beta == 0: C is not read. Returns 0, or -1 when out of memory
 * (the fallback's widened copy of A). */
int ie_gemm_bf16(int transA, int transB, int M, int N, int K, const uint16_t* A, int lda, const float* B, int ldb,
                 float beta, float* C, int ldc);

/* ie_conv2d_ex_f32 with bf16 weights w [Cout,Cin,KH,KW]: conv(bf16(x), w) with fp32 sums. Few output channels
 * (Cout <= 6 with stride 1 and Wo == W, e.g. a conv to RGB: bound by reading the image, not by arithmetic) run the
 * fp32 kernel on the widened weights and x rounded to bf16: the same products. Returns 0, or -1 when out of memory. */
int ie_conv2d_bf16_ex(const float* x, const uint16_t* w, const float* bias, const float* add, float* y,
                      int B, int Cin, int H, int W, int Cout, int KH, int KW, int stride, int pad, int relu);

/* Winograd F(4x4,3x3) for bf16 weights w [Cout,Cin,3,3] (where ie_conv3x3_winograd_pays). By default the transformed
 * operands U = G g G^T and V = B^T d B (transforms in fp32) are rounded to bf16 for the bf16 GEMM: twice the fp32
 * arithmetic rate. The transforms amplify that rounding: with the points 0, 1, -1, 1/2, -2, inf (not Lavin's +-2) and
 * four of the 36 frequencies kept fp32 it is ~1% relative L2 per convolution on white inputs (Lavin's points all in
 * bf16: ~2%; bf16 direct: ~0.25%), 2.2% at the ADM-256 output. With ie_set_winograd_bf16(0): the fp32 Winograd on x
 * and w rounded to bf16 (the operands of the bf16 direct convolution): ie_conv2d_bf16_ex's result up to the fp32
 * Winograd's rounding. Returns -1 when out of memory. */
int ie_conv3x3_winograd_bf16_ex(const float* x, const uint16_t* w, const float* bias, const float* add, float* y,
                                int B, int Cin, int H, int W, int Cout, int relu);
void ie_set_winograd_bf16(int on);
/* Its transposed convolution, as ie_conv3x3_winograd_transposed_f32 with bf16 w [Cin, Cout, 3, 3] (the input-gradient
 * of a bf16 3x3 conv): the weights transformed from w as they are, no flipped copy. Returns -1 when out of memory. */
int ie_conv3x3_winograd_transposed_bf16(const float* x, const uint16_t* w, float* y, int B, int Cin, int H, int W,
                                        int Cout);

/* ie_conv2d_auto_ex_f32 with bf16 weights w [Cout,Cin,KH,KW]: ie_conv3x3_winograd_bf16_ex where Winograd pays,
 * else ie_conv2d_bf16_ex. Returns -1 when out of memory. */
int ie_conv2d_auto_ex_bf16(const float* x, const uint16_t* w, const float* bias, const float* add, float* y,
                           int B, int Cin, int H, int W, int Cout, int KH, int KW, int stride, int pad, int relu);


/* ===================================================================================== */
/* 2. Elementwise ops, normalisation, resampling, attention (ops.c, grouped.c, transformer.c)                  */
/*    fp32, contiguous, NCHW. All loops use every OpenMP thread (see ie_set_num_threads). */
/* ===================================================================================== */

/* GroupNorm: per (b, g) mean/var over (C/G channels x HW), biased variance (ie_group_stats);
 * y = (x - mean) / sqrt(var + eps) * gamma[c] + beta[c]; then, if ss != NULL ([B, 2C]),
 * y = y * (1 + ss[b, c]) + ss[b, C + c]; then SiLU if silu != 0. y may alias x.
 * If stats != NULL ([B, G, 2]) it receives each group's mean and 1/sqrt(var + eps), for the gradient. */
void ie_group_norm_f32(const float* x, const float* gamma, const float* beta, const float* ss, float* y, double* stats,
                       int B, int C, long HW, int G, float eps, int silu);

void ie_silu_f32(const float* x, float* y, long n);
void ie_add_f32(const float* a, const float* b, float* y, long n);
/* y[b] = [a[b] (ia floats) | b[b] (ib floats)] for each of B samples. */
void ie_concat_f32(const float* a, const float* b, float* y, int B, long ia, long ib);
/* [P, H, W] -> [P, 2H, 2W] nearest. */
void ie_upsample2x_f32(const float* x, float* y, long P, int H, int W);
/* [P, H, W] -> [P, H/2, W/2] mean of 2x2. */
void ie_avgpool2x_f32(const float* x, float* y, long P, int H, int W);
/* y [N, M] = x [N, K] @ w[M, K]^T + bias[M] (bias may be NULL). */
void ie_linear_f32(const float* x, const float* w, const float* bias, float* y, int N, int K, int M);
/* Legacy-order multi-head attention: qkv [B, 3C, T] with head n owning channels [3ch n, 3ch (n+1))
 * as q|k|v; y [B, C, T]. Softmax in fp32 over keys. Returns -1 when its scratch allocation fails. */
int ie_attention_f32(const float* qkv, float* y, int B, int heads, int ch, int T);

/* grouped.c. Grouped convolution (groups > 1; semantics of ie_conv2d_ex_f32 with w [Cout, Cin/groups, KH, KW] and
 * output channel co reading only the input channels of its group co / (Cout/groups)), direct, one task per output
 * plane; and its input-gradient (dx [B, Cin, H, W] from dy [B, Cout, Ho, Wo]). */
void ie_conv2d_grouped_f32(const float* x, const float* w, const float* bias, const float* add, float* y,
                           int B, int Cin, int H, int W, int Cout, int KH, int KW, int stride, int pad, int groups, int relu);
void ie_conv2d_grouped_grad_f32(const float* dy, const float* w, float* dx, int B, int Cin, int H, int W, int Cout,
                                int KH, int KW, int stride, int pad, int groups);

/* transformer.c. LayerNorm over the C channels of x [B, C, S] at each of the S positions; y may alias x. */
void ie_layer_norm_f32(const float* x, const float* gamma, const float* beta, float* y, int B, int C, long S, float eps);
/* Exact-form GELU, y = x (1 + erf(x / sqrt 2)) / 2, erf with |error| <= 1.5e-7 (PyTorch's vectorised CPU erf). */
void ie_gelu_f32(const float* x, float* y, long n);

/* ===================================================================================== */
/* 3. Input-gradients (grad.c) and the 2-D FFT (fft.c)                                    */
/* ===================================================================================== */
/* fp32, contiguous, NCHW, every OpenMP thread. The scalar definitions are in org.imagenete.ops.ref.ReferenceOps;
 * these are tested against them. Kernels that allocate scratch return 0, or -1 when an allocation failed (output
 * then undefined). */

/* Input-gradient of ie_conv2d_f32: dy [B,Cout,Ho,Wo], w [Cout,Cin,KH,KW] -> dx [B,Cin,H,W],
 * dx[b,ci,iy,ix] = sum_{co,ky,kx: iy = oy*stride+ky-pad, ix = ox*stride+kx-pad} w[co,ci,ky,kx] dy[b,co,oy,ox],
 * Ho = (H+2*pad-KH)/stride+1, Wo likewise.
 * Stride 1, KH == KW, pad <= K-1: a forward convolution of dy with the flipped, channel-transposed kernel
 * (w'[ci,co,ky,kx] = w[co,ci,K-1-ky,K-1-kx], pad' = K-1-pad) through ie_conv2d_f32, the weights transformed
 * into a temporary buffer per call. Otherwise: W^T @ dy ([Cin*KH*KW, Ho*Wo] columns, by ie_sgemm) in tiles
 * of columns, each scatter-added into dx (col2im). */
int ie_conv2d_grad_f32(const float* dy, const float* w, float* dx,
                       int B, int Cout, int Cin, int H, int W, int KH, int KW, int stride, int pad);

/* The same with bf16 weights and dy rounded to bf16 (ie_conv2d_auto_ex_bf16's semantics): 1x1 the bf16 GEMM w^T dy
 * per image; other large stride-1 images the bf16 forward convolution of the flipped kernel; the rest (small images)
 * the bf16 GEMM w^T dy and col2im, the weights read transposed in place. Without AVX-512 BF16: fp32 on the widened
 * weights. */
int ie_conv2d_grad_bf16(const float* dy, const uint16_t* w, float* dx,
                        int B, int Cout, int Cin, int H, int W, int KH, int KW, int stride, int pad);

/* Of ie_linear_f32: dy [N,M], w [M,K] -> dx = dy @ w [N,K]. */
void ie_linear_grad_f32(const float* dy, const float* w, float* dx, int N, int M, int K);

/* Of ie_group_norm_f32 with the same arguments (x the forward input; scale-shift held constant):
 * with xhat = (x-mean)*inv, z = (xhat*gamma+beta)*(1+scale)+shift, dz = dy * silu'(z) (or dy),
 * dxhat = dz*(1+scale)*gamma: dx = inv * (dxhat - mean(dxhat) - xhat * mean(dxhat*xhat)) per (b, group).
 * The statistics are the forward's (stats [B, G, 2] from ie_group_norm_f32), or, if stats == NULL, recomputed from x
 * in float64 as the forward does. If add != NULL, dx += add (a residual's gradient, fused: one pass less over
 * memory). dx must not alias dy, x or add. */
void ie_group_norm_grad_f32(const float* dy, const float* x, const float* gamma, const float* beta, const float* ss,
                            const double* stats, const float* add, float* dx, int B, int C, long HW, int G, float eps,
                            int silu);

/* ie_group_norm_grad_f32 of x = concat(xa [B, Ca, HW], xb [B, C-Ca, HW]) along the channels (a decoder's
 * cat([h, skip]), which then need not be built), dx returned in the same two parts dxa, dxb. xb == NULL with Ca == C:
 * x and dx in one part. stats must be given when xb != NULL. dx parts must not alias dy, x or add. */
void ie_group_norm_grad_cat_f32(const float* dy, const float* xa, const float* xb, int Ca, const float* gamma,
                                const float* beta, const float* ss, const double* stats, const float* add, float* dxa,
                                float* dxb, int B, int C, long HW, int G, float eps, int silu);

/* dx = dy * s * (1 + x (1 - s)), s = sigmoid(x). */
void ie_silu_grad_f32(const float* dy, const float* x, float* dx, long n);

/* Of ie_concat_f32: dy [B, ia+ib] per sample -> da [B, ia], db [B, ib]. */
void ie_concat_grad_f32(const float* dy, float* da, float* db, int B, long ia, long ib);

/* Of ie_upsample2x_f32: dy [P, 2H, 2W] -> dx [P, H, W], sums of 2x2 blocks. */
void ie_upsample2x_grad_f32(const float* dy, float* dx, long P, int H, int W);

/* Of ie_avgpool2x_f32: dy [P, H, W] -> dx [P, 2H, 2W] = dy/4 on each 2x2 block. */
void ie_avgpool2x_grad_f32(const float* dy, float* dx, long P, int H, int W);

/* Of ie_attention_f32: dy [B, C, T], qkv [B, 3C, T] (legacy head-major q|k|v) -> dqkv [B, 3C, T].
 * Per head: P = softmax(Q^T K / sqrt(ch)) recomputed; dV = dY P^T, dP = dY^T V,
 * dS = P o (dP - rowsum(dP o P)) / sqrt(ch), dQ = K dS^T, dK = Q dS; products by ie_sgemm. */
int ie_attention_grad_f32(const float* dy, const float* qkv, float* dqkv, int B, int heads, int ch, int T);

/* Unnormalised 2-D DFT of P real planes: x [P, H, W] -> y [P, H, W, 2] (re, im interleaved),
 * y[k] = sum_n x[n] e^{-2 pi i (ky ny / H + kx nx / W)}. Any H, W >= 1 (mixed radix 2/3/4/5,
 * Bluestein through a power-of-two FFT for other lengths); float data, twiddles computed in double. */
int ie_fft2_f32(const float* x, float* y, long P, int H, int W);

/* Its input-gradient: g [P, H, W, 2] -> y [P, H, W] = Re(sum_k g[k] e^{+2 pi i (ky ny / H + kx nx / W)}). */
int ie_fft2_grad_f32(const float* g, float* y, long P, int H, int W);

/* ===================================================================================== */
/* 4. ResNet classifier ops and their input-gradients (pool.c)                            */
/* ===================================================================================== */

/* y = max(x, 0). */
void ie_relu_f32(const float* x, float* y, long n);
/* dx = dy where y > 0 (y is the ReLU output). */
void ie_relu_grad_f32(const float* dy, const float* y, float* dx, long n);
/* Max pooling x [P, H, W] -> y [P, Ho, Wo], window k, stride s, padding p (padding never wins). */
void ie_maxpool2d_f32(const float* x, float* y, long P, int H, int W, int k, int s, int p, int Ho, int Wo);
/* dx [P, H, W] = scatter-add of dy [P, Ho, Wo] to each window's first maximum in x. */
void ie_maxpool2d_grad_f32(const float* dy, const float* x, float* dx, long P, int H, int W, int k, int s, int p,
                           int Ho, int Wo);
/* x [P, HW] -> y [P], the mean of each plane (float64 sums). */
void ie_global_avgpool_f32(const float* x, float* y, long P, long HW);
/* dx [P, HW] = dy[p] / HW. */
void ie_global_avgpool_grad_f32(const float* dy, float* dx, long P, long HW);

/* ===================================================================================== */
/* 5. Affine compositing (composite.c)                                                    */
/* ===================================================================================== */

/* bg [B,C,H,W], src [B,C+1,Hs,Ws] premultiplied colour + alpha, inv [B*6]: output pixel (x, y) samples the
 * layer at (i0 x + i1 y + i2, i3 x + i4 y + i5), bilinear, taps outside the layer transparent.
 * y [B,C+1,H,W] = sampled colour + bg (1 - a), then a. */
void ie_affine_composite_f32(const float* bg, const float* src, const float* inv, float* y,
                             int B, int C, int H, int W, int Hs, int Ws);

/* ===================================================================================== */
/* 6. The sampler's arithmetic (sampler.c)                                               */
/* ===================================================================================== */
/* The sampler's arithmetic around the UNet, the fast CPU backend of
 * Ops.axpby ... Ops.nonFinite (org.imagenete.ops.Ops documents each contract). fp32 tensors [B, ...] with a
 * sample's `per` elements contiguous; per-sample scalars from a table coef [B, K] read at column `col`.
 * Element-wise results are computed in float64 and rounded once, with the fma()s of the contract written out:
 * the same operations as the reference (org.imagenete.ops.ref.SamplerReference) and the CUDA kernels
 * (cuda-kernels/sampler.cu), so most results agree bit for bit. Per-sample sums run over fixed blocks of
 * IE_SAMPLER_CHUNK elements, summed in block order: the result does not depend on the thread count. */

/* y = (a x + c z) + d per sample, (a, c, d) = coef[b, col..col+2]; z may be NULL; a zero coefficient's term is not read. */
void ie_axpby_f32(const float* x, const float* z, const float* coef, float* y, int B, long per, int K, int col);

/* p_mean_variance: out [B, 2, per] = [eps, v], x [B, per] -> mean, var, logvar, pred_x0, eps [B, per];
 * coef[b, col..col+5] = (log beta, clipped log posterior variance, sqrt(1/abar), sqrt(1/abar - 1), coef1, coef2). */
void ie_p_mean_variance_f32(const float* out, const float* x, const float* coef, float* mean, float* var, float* logvar,
                            float* pred_x0, float* eps, int B, long per, int K, int col);

/* y = fma(s exp(logvar/2), z, fp32(mean + var g)) with s = coef[b, col]; g, z may be NULL; s == 0 does not read z. */
void ie_posterior_sample_f32(const float* mean, const float* var, const float* logvar, const float* g, const float* z,
                             const float* coef, float* y, int B, long per, int K, int col);

/* y = fma(rest, 1 - m, obj m), m [B, 1, HW] broadcast over C channels; clamped to [-1, 1] when clamp. */
void ie_blend_f32(const float* rest, const float* obj, const float* m, float* y, int B, int C, long HW, int clamp);

/* Standard normals [B, per]: keys [B, 4] = (seed lo, seed hi, step lo, step hi), stream (step << 8) | purpose. */
void ie_philox_normal_f32(const int* keys, int purpose, float* y, int B, long per);

/* Mean |f| of the `per` complex values (re, im interleaved) of each sample -> y [B]. */
void ie_spectrum_mean_abs_f32(const float* f, float* y, int B, long per);

/* y = f / |f| * coef[b, col] (0 where f = 0) over the `per` complex values of each sample. */
void ie_spectrum_scale_f32(const float* f, const float* coef, float* y, int B, long per, int K, int col);

/* y = fma(r, x - clamp(x, -1, 1), g) (g may be NULL: 0; r == 0 gives g), r = coef[b, col]; sq[b] = mean of (x - clamp(x))^2. */
void ie_range_grad_f32(const float* x, const float* g, const float* coef, float* y, float* sq, int B, long per, int K, int col);

/* y [B, 2] = (number of NaN/Inf in sample b, index of the first or -1). */
void ie_non_finite_f32(const float* x, float* y, int B, long per);

#ifdef __cplusplus
}
#endif

#endif /* IMAGENETE_H */
