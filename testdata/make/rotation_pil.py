#!/usr/bin/python3
"""Makes testdata/rotation/: what PIL's Image.rotate does to a small test image, for the direction-edit test.

The released ImageNet-E editor turns the object with PIL (editing_diffusion/optimization/image_editor.py:197 and
:221, `Image.rotate(angle)`: counter-clockwise degrees about the image centre, nearest neighbour, no expand). The
Java test (core/src/test/java/org/imagenete/edit/RotationPilTest.java) makes the same turn with the editor's
direction edit and compares it with these files, so a wrong sign or a wrong centre fails it.

Run with Debian 12's python3-pil (9.4.0) and python3-numpy (1.24.2):
    /usr/bin/python3 testdata/make/rotation_pil.py
Writes (64x64 PNGs):
    input.png             the test image: three sinusoids of different directions and periods per channel
                          (steep enough that half a pixel of centre error moves a value by ~10 levels)
    mask.png              the object: a disk of radius 20 about (36, 26), off the image centre (31.5, 31.5)
    rotate<A>_bilinear.png  input.rotate(A, resample=BILINEAR)   A = 30, -45
    mask_rotate<A>.png    mask.rotate(A) (NEAREST, the released code's default)
"""
import os

import numpy as np
from PIL import Image

N = 64
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "rotation")
os.makedirs(out, exist_ok=True)

y, x = np.mgrid[0:N, 0:N].astype(np.float64)
img = np.stack([
    127.5 + 120 * np.sin(2 * np.pi * x / 16 + 0.3),
    127.5 + 120 * np.sin(2 * np.pi * y / 12 + 1.1),
    127.5 + 120 * np.sin(2 * np.pi * (x + 2 * y) / 20),
], axis=-1)
img = Image.fromarray(np.round(img).astype(np.uint8), "RGB")
mask = Image.fromarray((((x - 36) ** 2 + (y - 26) ** 2 <= 20 ** 2) * 255).astype(np.uint8), "L")
img.save(os.path.join(out, "input.png"))
mask.save(os.path.join(out, "mask.png"))
for a in (30, -45):
    img.rotate(a, resample=Image.BILINEAR).save(os.path.join(out, "rotate%d_bilinear.png" % a))
    mask.rotate(a).save(os.path.join(out, "mask_rotate%d.png" % a))
print("wrote", sorted(os.listdir(out)))
