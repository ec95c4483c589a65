#!/usr/bin/python3
"""Makes testdata/golden/adversarial-step.safetensors: one guided blended step of ImageNet-E with the adversarial
classifier term, as the released editor computes it, for `imagenet-e step --classifier ... --adv-scale 10 --adv-input raw`
(core/src/test/java/org/imagenete/cli/AdversarialStepGoldenTest.java).

What runs, and where it comes from:
  * the UNet and the Gaussian diffusion: openai/guided-diffusion at commit 22e0df8183507e13a7813f8d38d51b072ca1e67c
    (the commit of testdata/golden; the released ImageNet-E tool vendors the same code), imported from the checkout
    given with --guided-diffusion; nothing of it is copied here. Model: adm-tiny (testdata/golden/adm-tiny/weights.pt,
    flags in testdata/golden/README.md), respacing "100", rescale_timesteps.
  * cond_fn: alibaba/easyrobust benchmarks/imagenet-e/ImageNet-Editing/editing_diffusion/optimization/image_editor.py
    (commit c8b6c085b38c6ebbbfde4cbed2cc1fa81dd29927), re-stated below line by line:
      class_guided (252-262): x_in = pred_xstart.detach().requires_grad_(); logits = classifier(x_in) (the raw
        pred_xstart in [-1, 1]); selected = log_softmax(logits)[range(B), y]; returns
        -grad(selected.sum(), x_in) * classifier_scale                                              -> step.g_adv
      cond_fn (264-346): x_t.requires_grad_(); t_unscale = long(t * num_timesteps / 1000); pred_xstart of
        p_mean_variance(model, x_t, t_unscale, clip_denoised=False); loss = -background_complex * hf_loss((x0+1)/2)
        (--hard, 293) + range_lambda * range_loss(x0).sum() (303); returns -grad(loss, x_t) + g_adv (344) -> step.g
      HighFrequencyLoss (utils/fft_pytorch.py 41-43): mean |fftn(x, dim=(2,3))|.
    condition_mean (guided_diffusion): mean + variance * g; p_sample: + [i > 0] exp(0.5 log_variance) noise;
    postprocess_fn (image_editor.py 367-372): x_prev = sample * (1 - m_obj) + q_sample(x_obj, i, noise_obj) * m_obj.
  * the classifier: torchvision ResNet-18 with 10 classes and the golden formula weights (testdata/golden/README.md,
    "Deterministic weight formula"; salt 12; org.imagenete.nn.FormulaWeights.policy for offsets and scales), labels
    y = [3, 7], classifier_scale 10, background_complex (lambda) 20, range_lambda 50.
  * inputs: x_t, x_obj, m_obj, noise_sample, noise_obj, t_index of testdata/golden/guidance.safetensors (i = 40).

Precision as testdata/golden: the reference is a float64 evaluation (the model, the diffusion arrays, the FFT and the
ResNet in float64; the sinusoidal timestep embedding in float32 as the reference computes it, then upcast), stored as
float32; a plain float32 run of the same code gives, per tensor, the float32-vs-float64 max abs difference in the
`tolerances` metadata (with the reference's max abs), from which the test takes atol = max(10 x measured,
2e-6 x max(1, max|ref|), 1e-6), the golden README's rule.

Run with Debian 12's python3-torch 1.13.1, python3-torchvision 0.14.1, python3-numpy 1.24.2:
    git clone https://github.com/openai/guided-diffusion /tmp/guided-diffusion
    git -C /tmp/guided-diffusion checkout 22e0df8183507e13a7813f8d38d51b072ca1e67c
    /usr/bin/python3 testdata/make/adversarial_step.py --guided-diffusion /tmp/guided-diffusion
"""
import argparse
import collections
import hashlib
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from formula import formula, policy  # noqa: E402  (the shared weight formula)

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "golden")
LAMBDA, RANGE_LAMBDA, SCALE, SALT, CLASSES = 20.0, 50.0, 10.0, 12, 10
LABELS = [3, 7]
TINY = {"image_size": 32, "num_channels": 32, "num_res_blocks": 1, "num_heads": 4, "num_heads_upsample": -1,
        "num_head_channels": 8, "attention_resolutions": "16,8", "channel_mult": "1,2,2", "dropout": 0.0,
        "class_cond": False, "use_checkpoint": False, "use_scale_shift_norm": True, "resblock_updown": True,
        "use_fp16": False, "use_new_attention_order": False, "learn_sigma": True, "diffusion_steps": 1000,
        "noise_schedule": "linear", "timestep_respacing": "100", "use_kl": False, "predict_xstart": False,
        "rescale_timesteps": True, "rescale_learned_sigmas": False}
DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=DTYPES[e["dtype"]]).reshape(e["shape"]).copy()
    return out


def write_safetensors(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        kind = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}[a.dtype]
        blob = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": kind, "shape": list(a.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def formula_resnet18():
    net = torchvision.models.resnet18(num_classes=CLASSES)
    sd, sha = collections.OrderedDict(), hashlib.sha256()
    for k, (name, t) in enumerate(net.state_dict().items()):
        if name.endswith("num_batches_tracked"):
            sd[name] = torch.zeros_like(t)
            continue
        off, sc = policy(name, list(t.shape))
        w = formula(k, SALT, off, sc, t.numel()).reshape(tuple(t.shape))
        sha.update(w.astype("<f4").tobytes())
        sd[name] = torch.from_numpy(w)
    net.load_state_dict(sd)
    return net.eval(), sha.hexdigest()


def step(model, diffusion, classifier, inp, dtype):
    """One step of the released editor at respaced index t_index; every intermediate, as numpy."""
    x = torch.from_numpy(inp["x_t"]).to(dtype)
    x_obj, m = torch.from_numpy(inp["x_obj"]).to(dtype), torch.from_numpy(inp["m_obj"]).to(dtype)
    z_s, z_o = torch.from_numpy(inp["noise_sample"]).to(dtype), torch.from_numpy(inp["noise_obj"]).to(dtype)
    t = torch.from_numpy(inp["t_index"])
    y = torch.tensor(LABELS)
    o = {}
    with torch.no_grad():
        out = diffusion.p_mean_variance(model, x, t, clip_denoised=False, model_kwargs={})
    # SpacedDiffusion hands cond_fn the model timestep (its _WrappedModel); cond_fn takes the index back from it
    t_model = torch.tensor(diffusion.timestep_map)[t].float() * (1000.0 / diffusion.original_num_steps)
    t_unscaled = (t_model * (diffusion.num_timesteps / 1000)).long()
    def cond_fn(lam, range_lam):
        """-grad(loss, x_t) of cond_fn's loss, and its parts' values (one forward each: guided-diffusion's
        AttentionBlock checkpoint frees its inputs after one backward)."""
        with torch.enable_grad():
            xg = x.detach().requires_grad_()
            x0 = diffusion.p_mean_variance(model, xg, t_unscaled, clip_denoised=False, model_kwargs={})["pred_xstart"]
            c = torch.abs(torch.fft.fftn((x0 + 1.0) / 2.0, dim=(2, 3))).mean()
            r = (x0 - x0.clamp(-1, 1)).pow(2).mean([1, 2, 3]).sum()
            loss = -lam * c + range_lam * r
            return -torch.autograd.grad(loss, xg)[0], x0.detach(), c.detach(), r.detach(), loss.detach()

    g_loss, x0, c, r, loss = cond_fn(LAMBDA, RANGE_LAMBDA)
    g_c, g_r = cond_fn(LAMBDA, 0.0)[0], cond_fn(0.0, RANGE_LAMBDA)[0]
    with torch.enable_grad():
        x_in = x0.detach().requires_grad_(True)
        selected = F.log_softmax(classifier(x_in), dim=-1)[range(len(x_in)), y.view(-1)]
        g_adv = -torch.autograd.grad(selected.sum(), x_in)[0] * SCALE
    g = g_loss + g_adv
    gm = out["mean"] + out["variance"] * g
    nonzero = (t != 0).to(dtype).view(-1, 1, 1, 1)
    sample = gm + nonzero * torch.exp(0.5 * out["log_variance"]) * z_s
    q_obj = diffusion.q_sample(x_obj, t, noise=z_o)
    with torch.no_grad():
        raw = model(x, t_model.to(torch.float32))
    for k, v in [("pmv.model_out", raw), ("pmv.mean", out["mean"]), ("pmv.variance", out["variance"]),
                 ("pmv.log_variance", out["log_variance"]), ("pmv.pred_xstart", out["pred_xstart"]), ("step.g", g),
                 ("step.g_complexity", g_c), ("step.g_range", g_r), ("step.g_adv", g_adv), ("step.C_pred", c.reshape(1)),
                 ("step.range", r.reshape(1)), ("step.loss", loss.reshape(1)), ("step.guided_mean", gm), ("step.sample", sample),
                 ("step.q_obj", q_obj), ("step.x_prev", sample * (1 - m) + q_obj * m)]:
        o[k] = v.detach().numpy().astype(np.float64)
    o["step.t_model"] = t_model.numpy().astype(np.float64)
    o["step.t_unscaled"] = t_unscaled.numpy().astype(np.int64)
    return o


class Float64:
    """The golden README's float64 evaluation: Tensor.float() keeps float64, the timestep embedding stays float32."""

    def __init__(self, gd_unet):
        self.gd_unet = gd_unet

    def __enter__(self):
        self.float, self.temb = torch.Tensor.float, self.gd_unet.timestep_embedding
        orig_float, orig_temb = self.float, self.temb
        torch.Tensor.float = lambda t, *a, **k: t if t.dtype == torch.float64 else orig_float(t, *a, **k)
        self.gd_unet.timestep_embedding = lambda ts, dim, max_period=10000: orig_temb(ts.to(torch.float32), dim, max_period).double()

    def __exit__(self, *exc):
        torch.Tensor.float, self.gd_unet.timestep_embedding = self.float, self.temb


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--guided-diffusion", required=True, help="checkout of openai/guided-diffusion at 22e0df8")
    ap.add_argument("--out", default=os.path.join(GOLDEN, "adversarial-step.safetensors"))
    args = ap.parse_args()
    sys.path.insert(0, os.path.abspath(args.guided_diffusion))
    from guided_diffusion import unet as gd_unet
    from guided_diffusion.script_util import create_model_and_diffusion
    torch.set_grad_enabled(False)
    inp = read_safetensors(os.path.join(GOLDEN, "guidance.safetensors"))
    state = torch.load(os.path.join(GOLDEN, "adm-tiny", "weights.pt"), map_location="cpu")
    classifier, sha = formula_resnet18()
    runs = {}
    for name, dtype in (("f64", torch.float64), ("f32", torch.float32)):
        model, diffusion = create_model_and_diffusion(**TINY)
        model.load_state_dict(state)
        model.eval()
        if dtype == torch.float64:
            model.double()
            model.dtype = torch.float64
            with Float64(gd_unet):
                runs[name] = step(model, diffusion, classifier.double(), inp, dtype)
        else:
            runs[name] = step(model, diffusion, classifier.float(), inp, dtype)
    ref, f32 = runs["f64"], runs["f32"]
    tensors = collections.OrderedDict()
    for k in ("x_t", "x_obj", "m_obj", "noise_sample", "noise_obj", "t_index"):
        tensors[k] = inp[k]
    tensors["y"] = np.array(LABELS, dtype=np.int64)
    tol = {}
    for k, v in ref.items():
        tensors[k] = v if v.dtype == np.int64 else v.astype(np.float32)
        if v.dtype != np.int64:
            tol[k] = {"fp32_vs_fp64_maxabs": float(np.abs(f32[k] - v).max()), "ref_absmax": float(np.abs(v).max())}
    meta = {"generator": "testdata/make/adversarial_step.py", "guided_diffusion_commit": "22e0df8183507e13a7813f8d38d51b072ca1e67c",
            "easyrobust_commit": "c8b6c085b38c6ebbbfde4cbed2cc1fa81dd29927", "torch": torch.__version__,
            "torchvision": torchvision.__version__, "model": "adm-tiny", "respacing": "100", "lambda": str(LAMBDA),
            "range_lambda": str(RANGE_LAMBDA), "adv_scale": str(SCALE), "adv_input": "raw",
            "classifier": "torchvision resnet18, %d classes, formula weights salt %d" % (CLASSES, SALT),
            "classifier_weights_sha256": sha, "tolerances": json.dumps(tol, sort_keys=True)}
    write_safetensors(args.out, tensors, meta)
    for k in ("step.g", "step.g_adv", "step.g_complexity", "step.guided_mean"):
        print("%-18s absmax %.4g  fp32 vs fp64 %.3g" % (k, tol[k]["ref_absmax"], tol[k]["fp32_vs_fp64_maxabs"]))
    print("wrote", args.out, os.path.getsize(args.out), "bytes")


if __name__ == "__main__":
    main()
