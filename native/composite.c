/* Affine compositing of a premultiplied RGBA layer over a background (the edits' object placement). */
#include "imagenete.h"

#include <math.h>

/* bg [B,C,H,W], src [B,C+1,Hs,Ws] premultiplied colour + alpha, inv [B*6]: output pixel (x, y) samples the
 * layer at (i0 x + i1 y + i2, i3 x + i4 y + i5), bilinear, taps outside the layer transparent.
 * y [B,C+1,H,W] = sampled colour + bg (1 - a), then a. Coordinates in double (exact for any image size). */
void ie_affine_composite_f32(const float* bg, const float* src, const float* inv, float* y,
                             int B, int C, int H, int W, int Hs, int Ws) {
    #pragma omp parallel for schedule(static) collapse(2)
    for (int b = 0; b < B; b++)
        for (int oy = 0; oy < H; oy++) {
            const float* m = inv + 6 * b;
            const float* sb = src + (long) b * (C + 1) * Hs * Ws;
            const float* gb = bg + (long) b * C * H * W;
            float* yb = y + (long) b * (C + 1) * H * W;
            const long plane = (long) H * W, splane = (long) Hs * Ws;
            for (int ox = 0; ox < W; ox++) {
                double sx = (double) m[0] * ox + (double) m[1] * oy + m[2];
                double sy = (double) m[3] * ox + (double) m[4] * oy + m[5];
                double fxd = floor(sx), fyd = floor(sy);
                long o = (long) oy * W + ox;
                if (fxd < -1 || fyd < -1 || fxd >= Ws || fyd >= Hs) {      /* no tap inside: background only */
                    for (int c = 0; c < C; c++) yb[c * plane + o] = gb[c * plane + o];
                    yb[C * plane + o] = 0.0f;
                    continue;
                }
                int x0 = (int) fxd, y0 = (int) fyd;
                double fx = sx - fxd, fy = sy - fyd;
                double w00 = (1 - fx) * (1 - fy), w01 = fx * (1 - fy), w10 = (1 - fx) * fy, w11 = fx * fy;
                int in00 = x0 >= 0 && y0 >= 0, in01 = x0 + 1 < Ws && y0 >= 0, in10 = x0 >= 0 && y0 + 1 < Hs, in11 = x0 + 1 < Ws && y0 + 1 < Hs;
                long i00 = (long) y0 * Ws + x0;
                double a = 0;
                for (int c = 0; c <= C; c++) {
                    const float* s = sb + c * splane;
                    double v = 0;
                    if (in00) v += w00 * s[i00];
                    if (in01) v += w01 * s[i00 + 1];
                    if (in10) v += w10 * s[i00 + Ws];
                    if (in11) v += w11 * s[i00 + Ws + 1];
                    if (c == C) a = v;
                    else yb[c * plane + o] = (float) v;
                }
                for (int c = 0; c < C; c++) yb[c * plane + o] = (float) (yb[c * plane + o] + gb[c * plane + o] * (1 - a));
                yb[C * plane + o] = (float) a;
            }
        }
}
