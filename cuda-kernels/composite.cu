// composite: a premultiplied RGBA layer placed over a background through an affine map, bilinear, in one pass
// (the edits' object placement). Arithmetic in fp64 like the reference (ReferenceOps.affineComposite): the
// coefficients are fp32, promoted; taps outside the layer are transparent.
// Versions: affine_composite_f32_v1 only (one thread per output pixel, all channels).
#include "common.cuh"

/**
 * bg [B,C,H,W], src [B,C+1,Hs,Ws] (colour x alpha, alpha), inv [B*6]: sx = i0 x + i1 y + i2, sy = i3 x + i4 y + i5
 * -> y [B,C+1,H,W] = (sampled colour + bg (1 - a), a).
 */
extern "C" __global__ void __launch_bounds__(EW_THREADS)
affine_composite_f32_v1(const float* __restrict__ bg, const float* __restrict__ src, const float* __restrict__ inv,
                        float* __restrict__ y, int B, int C, int H, int W, int Hs, int Ws) {
    const long long n = (long long) B * H * W;
    IE_GRID_STRIDE(i, n) {
        int b = (int) (i / ((long long) H * W)), r = (int) (i - (long long) b * H * W), oy = r / W, ox = r - oy * W;
        const float* m = inv + 6 * b;
        double sx = (double) m[0] * ox + (double) m[1] * oy + m[2];
        double sy = (double) m[3] * ox + (double) m[4] * oy + m[5];
        int x0 = (int) floor(sx), y0 = (int) floor(sy);
        double fx = sx - x0, fy = sy - y0;
        double w4[4];
        long long off[4];
        bool in[4];
        for (int t = 0; t < 4; t++) {
            int xi = x0 + (t & 1), yi = y0 + (t >> 1);
            in[t] = xi >= 0 && xi < Ws && yi >= 0 && yi < Hs;   // taps outside are skipped, not weighted by 0
            w4[t] = ((t & 1) ? fx : 1 - fx) * ((t >> 1) ? fy : 1 - fy);
            off[t] = in[t] ? (long long) yi * Ws + xi : 0;
        }
        const float* s = src + (long long) b * (C + 1) * Hs * Ws;
        const long long plane = (long long) Hs * Ws, oplane = (long long) H * W;
        double a = 0;
        for (int t = 0; t < 4; t++)
            if (in[t]) a += w4[t] * s[C * plane + off[t]];
        float* yo = y + (long long) b * (C + 1) * oplane + r;
        const float* bo = bg + (long long) b * C * oplane + r;
        for (int ch = 0; ch < C; ch++) {
            double v = 0;
            for (int t = 0; t < 4; t++)
                if (in[t]) v += w4[t] * s[ch * plane + off[t]];
            yo[ch * oplane] = (float) (v + bo[ch * oplane] * (1 - a));
        }
        yo[C * oplane] = (float) a;
    }
}

IE_KERNEL_EXPORT(affine_composite_f32_v1)
