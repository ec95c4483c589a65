#!/usr/bin/env python3
"""Golden logits of the model-zoo architectures that imagenet-e runs natively, computed by the original code.

    /usr/bin/python3 testdata/golden/make_zoo.py testdata/golden/zoo/io.safetensors

Needs Debian's PyTorch and torchvision (apt-get install -y python3-torch python3-torchvision; made with torch
1.13.0a0 and torchvision 0.14.1) and numpy; runs on the CPU in about a minute. No downloaded weights: every model gets
the project's deterministic formula weights (org.imagenete.nn.FormulaWeights; golden/README.md, "Deterministic weight
formula") in state_dict() order, salt 0, so the Java test makes the same weights from the tensor list stored here.

Models (torchvision's constructors, weights=None, eval mode):
  resnext50_32x4d      torchvision.models.resnext50_32x4d()
  wide_resnet50_2      torchvision.models.wide_resnet50_2()
  vit_b_16             torchvision.models.vit_b_16() (86.6 M parameters, the full model)
  deit_tiny            timm's deit_tiny_patch16_224 keys and state-dict order (cls_token, pos_embed, patch_embed.proj,
                       blocks.i.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}, norm, head), computed by
                       torchvision's VisionTransformer(224, 16, 12 layers, 3 heads, 192 wide, MLP 768) with those
                       weights: timm's ViT is the same network (pre-norm blocks, LayerNorm eps 1e-6, exact GELU, qkv
                       rows q|k|v); timm itself is not packaged by Debian
  deit_tiny_distilled  the same with timm's distillation token (dist_token after pos_embed, head_dist after head, 198
                       position embeddings): tokens [cls, dist, patches] + pos through torchvision's encoder, output
                       (head(x[:, 0]) + head_dist(x[:, 1])) / 2 as timm's VisionTransformerDistilled in eval mode

Input for every model: x = formula(k=1000000, salt 0, offset 0, scale sqrt(3)) [2, 3, 224, 224], float32 (not stored).
References are float64 evaluations (model.double(), the float32 x upcast) stored as float32; each output also records
the max abs difference of the float32 evaluation (the accuracy a float32 implementation can expect) in the metadata.

Tensors written: <model>.logits [2, 1000] (and <model>.logits_f64); vit_b_16.block<i>.cls [2, 768], the class
token after encoder block i (i = 0..11), for locating a disagreement. Metadata: per model its state-dict entries in
order with shapes (JSON), the measured float32 error, the argmax.
"""
import json
import math
import os
import struct
import sys
from collections import OrderedDict

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "make"))
from formula import formula, policy  # noqa: E402  (the shared weight formula)

SALT = 0


def formula_state_dict(entries):
    """[(name, shape, dtype)] in order -> OrderedDict of tensors (int64 entries: zeros, still consuming their k)."""
    sd = OrderedDict()
    for k, (name, shape, dtype) in enumerate(entries):
        if dtype == torch.int64:
            sd[name] = torch.zeros(shape, dtype=torch.int64)
        else:
            off, sc = policy(name, shape)
            sd[name] = torch.from_numpy(formula(k, SALT, off, sc, math.prod(shape)).reshape(shape))
    return sd


def self_check(path):
    """The formula against formula_selfcheck.json (bit patterns written by the original generator)."""
    with open(path) as f:
        checks = json.load(f)["checks"]
    for c in checks:
        w = formula(c["k"], c["salt"], c["offset"], c["scale"], len(c["w_float32"]))
        bits = ["0x%08x" % struct.unpack("<I", struct.pack("<f", float(v)))[0] for v in w]
        assert bits == c["w_float32_bits"], (c["what"], bits, c["w_float32_bits"])


def entries_of(model):
    return [(n, tuple(t.shape), t.dtype) for n, t in model.state_dict().items()]


def x_input():
    return torch.from_numpy(formula(1000000, SALT, 0.0, math.sqrt(3.0), 2 * 3 * 224 * 224).reshape(2, 3, 224, 224))


def evaluate(forward, model, x32):
    """float64 and float32 evaluations of forward(model, x)."""
    with torch.no_grad():
        m64 = model.double().eval()
        y64 = forward(m64, x32.double())
        m32 = model.float().eval()
        y32 = forward(m32, x32)
    return y64, float((y32.double() - y64).abs().max())


TIMM_TOP = {"cls_token": "class_token", "pos_embed": "encoder.pos_embedding", "patch_embed.proj.weight": "conv_proj.weight",
            "patch_embed.proj.bias": "conv_proj.bias", "norm.weight": "encoder.ln.weight", "norm.bias": "encoder.ln.bias",
            "head.weight": "heads.head.weight", "head.bias": "heads.head.bias"}
TIMM_BLOCK = [("blocks.", "encoder.layers.encoder_layer_"), (".norm1.", ".ln_1."), (".norm2.", ".ln_2."),
              (".attn.qkv.weight", ".self_attention.in_proj_weight"), (".attn.qkv.bias", ".self_attention.in_proj_bias"),
              (".attn.proj.", ".self_attention.out_proj."), (".mlp.fc1.", ".mlp.0."), (".mlp.fc2.", ".mlp.3.")]


def torchvision_name(n):
    """timm's key -> torchvision's (the same parameter)."""
    if n in TIMM_TOP:
        return TIMM_TOP[n]
    for a, b in TIMM_BLOCK:
        n = n.replace(a, b)
    return n


def deit_entries(dim, depth, mlp, classes, distilled):
    """timm's state-dict order for deit_*_patch16_224 (and the distilled variant)."""
    t = 196 + (2 if distilled else 1)
    e = [("cls_token", (1, 1, dim)), ("pos_embed", (1, t, dim))]
    if distilled:
        e.append(("dist_token", (1, 1, dim)))
    e += [("patch_embed.proj.weight", (dim, 3, 16, 16)), ("patch_embed.proj.bias", (dim,))]
    for i in range(depth):
        b = "blocks.%d." % i
        e += [(b + "norm1.weight", (dim,)), (b + "norm1.bias", (dim,)), (b + "attn.qkv.weight", (3 * dim, dim)), (b + "attn.qkv.bias", (3 * dim,)),
              (b + "attn.proj.weight", (dim, dim)), (b + "attn.proj.bias", (dim,)), (b + "norm2.weight", (dim,)), (b + "norm2.bias", (dim,)),
              (b + "mlp.fc1.weight", (mlp, dim)), (b + "mlp.fc1.bias", (mlp,)), (b + "mlp.fc2.weight", (dim, mlp)), (b + "mlp.fc2.bias", (dim,))]
    e += [("norm.weight", (dim,)), ("norm.bias", (dim,)), ("head.weight", (classes, dim)), ("head.bias", (classes,))]
    if distilled:
        e += [("head_dist.weight", (classes, dim)), ("head_dist.bias", (classes,))]
    return [(n, s, torch.float32) for n, s in e]


def deit(distilled):
    """torchvision's ViT holding the timm-keyed formula weights; the forward of timm's (distilled) DeiT."""
    entries = deit_entries(192, 12, 768, 1000, distilled)
    sd = formula_state_dict(entries)
    m = torchvision.models.VisionTransformer(224, 16, 12, 3, 192, 768, num_classes=1000)
    tv = OrderedDict()
    extra = {}
    for n, t in sd.items():
        if n in ("dist_token", "head_dist.weight", "head_dist.bias") or (distilled and n == "pos_embed"):
            extra[n] = t
            continue
        tv[torchvision_name(n)] = t
    if distilled:
        tv["encoder.pos_embedding"] = m.encoder.pos_embedding.detach()   # replaced by the 198-token one below
    m.load_state_dict(tv, strict=True)
    if distilled:
        m.encoder.pos_embedding = torch.nn.Parameter(extra["pos_embed"].clone())
        m.dist_token = torch.nn.Parameter(extra["dist_token"].clone())
        m.head_dist = torch.nn.Linear(192, 1000)
        m.head_dist.weight = torch.nn.Parameter(extra["head_dist.weight"].clone())
        m.head_dist.bias = torch.nn.Parameter(extra["head_dist.bias"].clone())

    def forward(model, x):
        h = model._process_input(x)                                           # conv_proj, flatten: [B, 196, D]
        n = h.shape[0]
        toks = [model.class_token.expand(n, -1, -1)]
        if distilled:
            toks.append(model.dist_token.expand(n, -1, -1))
        h = model.encoder(torch.cat(toks + [h], dim=1))                      # + pos_embed, blocks, final LayerNorm
        if distilled:
            return (model.heads.head(h[:, 0]) + model.head_dist(h[:, 1])) / 2
        return model.heads.head(h[:, 0])

    return m, entries, forward


def main(out):
    here = sys.path[0]
    self_check(here + "/formula_selfcheck.json")
    x = x_input()
    tensors, meta = OrderedDict(), OrderedDict()
    plain = lambda model, inp: model(inp)

    for name, ctor in [("resnext50_32x4d", torchvision.models.resnext50_32x4d), ("wide_resnet50_2", torchvision.models.wide_resnet50_2),
                       ("vit_b_16", torchvision.models.vit_b_16)]:
        m = ctor()
        entries = entries_of(m)
        m.load_state_dict(formula_state_dict(entries), strict=True)
        cls = {}
        if name == "vit_b_16":
            for i, layer in enumerate(m.encoder.layers):
                layer.register_forward_hook(lambda mod, inp, o, i=i: cls.__setitem__(i, o[:, 0].detach().clone()))
        y, err = evaluate(plain, m, x)
        if name == "vit_b_16":
            with torch.no_grad():
                m.double()(x.double())                                        # the float64 run's class tokens
            for i in range(len(m.encoder.layers)):
                tensors["vit_b_16.block%d.cls" % i] = cls[i].float()
        record(tensors, meta, name, entries, y, err)

    for name, distilled in [("deit_tiny", False), ("deit_tiny_distilled", True)]:
        m, entries, forward = deit(distilled)
        y, err = evaluate(forward, m, x)
        record(tensors, meta, name, entries, y, err)

    write_safetensors(out, tensors, {"generator": "testdata/golden/make_zoo.py", "torch": torch.__version__,
                                     "torchvision": torchvision.__version__, "salt": str(SALT),
                                     "input": "x = formula(k=1000000, salt 0, offset 0, scale sqrt(3)) [2, 3, 224, 224] float32",
                                     "models": json.dumps(meta)})


def record(tensors, meta, name, entries, y, err):
    tensors[name + ".logits"] = y.float()
    tensors[name + ".logits_f64"] = y
    meta[name] = {"fp32_vs_fp64_maxabs": err, "ref_absmax": float(y.abs().max()), "argmax": y.argmax(1).tolist(),
                  "state_dict": [[n, list(s), "I64" if d == torch.int64 else "F32"] for n, s, d in entries]}
    print("%-20s %3d tensors, %.1f M values, fp32 vs fp64 max |d| %.3g, |logits| <= %.3g, argmax %s"
          % (name, len(entries), sum(math.prod(s) for _, s, _ in entries) / 1e6, err, meta[name]["ref_absmax"], meta[name]["argmax"]))


def write_safetensors(path, tensors, metadata):
    """safetensors: u64 header length, JSON header (padded to 8 bytes with spaces), raw little-endian data."""
    header, blobs, off = OrderedDict(), [], 0
    header["__metadata__"] = metadata
    for n, t in tensors.items():
        a = t.contiguous().numpy()
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[n] = {"dtype": {"float32": "F32", "float64": "F64"}[str(a.dtype)], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


if __name__ == "__main__":
    main(sys.argv[1])
