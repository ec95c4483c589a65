/* imagenete native kernels: input-gradients (grad.c) and the 2-D FFT (fft.c).
 * fp32, contiguous, NCHW, every OpenMP thread (see ie_set_num_threads in imagenete.h). The scalar
 * definitions are in org.imagenete.ops.ref.ReferenceOps; these are tested against them.
 * Kernels that allocate scratch return 0, or -1 when an allocation failed (output then undefined). */
#ifndef IMAGENETE_GRAD_H
#define IMAGENETE_GRAD_H

#include "imagenete.h"

/* Input-gradient of ie_conv2d_f32: dy [B,Cout,Ho,Wo], w [Cout,Cin,KH,KW] -> dx [B,Cin,H,W],
 * dx[b,ci,iy,ix] = sum_{co,ky,kx: iy = oy*stride+ky-pad, ix = ox*stride+kx-pad} w[co,ci,ky,kx] dy[b,co,oy,ox],
 * Ho = (H+2*pad-KH)/stride+1, Wo likewise.
 * Stride 1, KH == KW, pad <= K-1: a forward convolution of dy with the flipped, channel-transposed kernel
 * (w'[ci,co,ky,kx] = w[co,ci,K-1-ky,K-1-kx], pad' = K-1-pad) through ie_conv2d_f32, the weights transformed
 * into a temporary buffer per call. Otherwise: W^T @ dy ([Cin*KH*KW, Ho*Wo] columns, by ie_sgemm) in tiles
 * of columns, each scatter-added into dx (col2im). */
int ie_conv2d_grad_f32(const float* dy, const float* w, float* dx,
                       int B, int Cout, int Cin, int H, int W, int KH, int KW, int stride, int pad);

/* The same with bf16 weights and dy rounded to bf16 (ie_conv2d_auto_ex_bf16's semantics): large stride-1 images run the
 * bf16 forward convolution of the flipped kernel; the rest (small images) the bf16 GEMM dy^T w and col2im. Without
 * AVX-512 BF16: fp32 on the widened weights. */
int ie_conv2d_grad_bf16(const float* dy, const uint16_t* w, float* dx,
                        int B, int Cout, int Cin, int H, int W, int KH, int KW, int stride, int pad);

/* Of ie_linear_f32: dy [N,M], w [M,K] -> dx = dy @ w [N,K]. */
void ie_linear_grad_f32(const float* dy, const float* w, float* dx, int N, int M, int K);

/* Of ie_group_norm_f32 with the same arguments (x the forward input; scale-shift held constant):
 * with xhat = (x-mean)*inv, z = (xhat*gamma+beta)*(1+scale)+shift, dz = dy * silu'(z) (or dy),
 * dxhat = dz*(1+scale)*gamma: dx = inv * (dxhat - mean(dxhat) - xhat * mean(dxhat*xhat)) per (b, group).
 * Statistics recomputed from x in float64 as the forward does. dx must not alias dy or x. */
void ie_group_norm_grad_f32(const float* dy, const float* x, const float* gamma, const float* beta,
                            const float* ss, float* dx, int B, int C, long HW, int G, float eps, int silu);

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

#endif
