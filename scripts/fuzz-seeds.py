#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets (core/src/test/resources/org/imagenete/**/<Test>Inputs/<target>/seed-*).

Seeds are small valid files, and crafted hostile ones, from which Jazzer mutates; `mvn test` replays every file in
those folders (seeds and the crash-* / timeout-* inputs Jazzer adds for each finding). Only the Python standard
library: the pickles are written opcode by opcode, the checkpoints come from core/src/test/resources/torch.
Run from the repository root: python3 scripts/fuzz-seeds.py
"""
import io
import json
import os
import struct
import zipfile
import zlib

ROOT = "core/src/test/resources/org/imagenete"
TORCH = "core/src/test/resources/torch"
DECODE = "core/src/test/resources/image/decode"


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def pkl(*ops):
    return b"\x80\x02" + b"".join(ops) + b"."


def s(text):
    b = text.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def get(i):
    return b"j" + struct.pack("<I", i)


def mput(i):
    return b"r" + struct.pack("<I", i)


def tensor(key):
    storage = b"(" + s("storage") + b"ctorch\nFloatStorage\n" + s(key) + s("cpu") + b"K\x01tQ"
    return (b"ctorch._utils\n_rebuild_tensor_v2\n(" + storage + b"K\x00(K\x01t(K\x01t\x89"
            + b"ccollections\nOrderedDict\n)RtR")


def dag(levels):
    out = [s("x"), mput(0), b"0"]
    for i in range(1, levels + 1):
        out += [get(i - 1), get(i - 1), b"\x86", mput(i), b"0"]
    return b"".join(out) + get(levels)


# ---- pickles
pickles = "io/ParserFuzzTestInputs/pickle"
for name in ["fp16.pt", "params.pt", "nested.pt", "malicious.pt"]:
    with zipfile.ZipFile(os.path.join(TORCH, name)) as z:
        data = next(z.read(n) for n in z.namelist() if n.endswith("/data.pkl"))
    put(pickles, name.replace(".pt", ".pkl"), data)
put(pickles, "dag-key.pkl", pkl(b"}", s("w"), tensor("0"), b"s", dag(20), b"K\x01s"))
put(pickles, "dag-value.pkl", pkl(b"}", s("w"), tensor("0"), b"s", s("meta"), dag(20), b"s"))
put(pickles, "nested-tuples.pkl", pkl(b"}", s("k"), s("x"), b"\x85" * 1200, b"s"))
put(pickles, "ordered-dict-copies.pkl", pkl(b"ccollections\nOrderedDict\n", mput(1), b"0", b"}(",
                                            b"".join(b"J" + struct.pack("<i", i) + b"N" for i in range(50)), b"u", mput(0), b"0",
                                            b"".join(get(1) + get(0) + b"\x85R0" for _ in range(50)), b"}"))

# ---- torch zips: the fixtures as they are, and one re-zipped with deflate
zips = "io/ParserFuzzTestInputs/torchZip"
for name in ["fp16.pt", "bool.pt", "params.pt"]:
    with open(os.path.join(TORCH, name), "rb") as f:
        put(zips, name, f.read())
buf = io.BytesIO()
with zipfile.ZipFile(os.path.join(TORCH, "fp16.pt")) as src, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
    for n in src.namelist():
        dst.writestr(n, src.read(n))
put(zips, "fp16-deflated.pt", buf.getvalue())


# ---- safetensors
def safetensors(header, data):
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


st = "io/ParserFuzzTestInputs/safetensors"
put(st, "two.safetensors", safetensors({"__metadata__": {"format": "pt"},
                                        "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
                                        "b": {"dtype": "BF16", "shape": [3], "data_offsets": [16, 22]}}, bytes(22)))
put(st, "empty-tensor.safetensors", safetensors({"e": {"dtype": "I64", "shape": [0], "data_offsets": [0, 0]}}, b""))
raw = b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
put(st, "duplicate.safetensors", struct.pack("<Q", len(raw)) + raw + bytes(4))


# ---- images
def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)


def png(w, h, colour, depth, rows, plte=None):
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, 0))
    if plte:
        out += png_chunk(b"PLTE", plte)
    return out + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b"")


pngs = "image/HeaderFuzzTestInputs/png"
put(pngs, "rgb-2x2.png", png(2, 2, 2, 8, b"\x00" + bytes(range(6)) + b"\x01" + bytes(range(6))))
put(pngs, "palette-1x1.png", png(1, 1, 3, 8, b"\x00\x00", plte=b"\xff\x00\x00"))
put(pngs, "bomb-header.png", png(20000, 20000, 2, 8, b"\x00" * 7))
for name in ["gray1.png", "gray16.png.pil.png", "palette4-trns.png"]:
    with open(os.path.join(DECODE, name), "rb") as f:
        put(pngs, name, f.read())

jpegs = "image/HeaderFuzzTestInputs/jpeg"
for name in ["gray.jpg", "rgb420.jpg", "exif-6.jpg"]:
    with open(os.path.join(DECODE, name), "rb") as f:
        put(jpegs, name, f.read())
put(jpegs, "bomb-header.jpg", bytes([0xFF, 0xD8, 0xFF, 0xC0, 0, 17, 8, 0x75, 0x30, 0x75, 0x30, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1,
                                     0xFF, 0xDA, 0, 12, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 63, 0, 0, 0]))

# ---- the edit and variant grammar
grammar = "dataset/GrammarFuzzTestInputs/editAndVariantGrammar"
for i, text in enumerate(["size=0.08,direction=30", "background=-20-adv", "direction@object,position", "size=0.0625",
                          "background+20_size-0.05", "direction=-0", "size=1e-300", "direction=random@object"]):
    put(grammar, "%d.txt" % i, text.encode())
print("fuzz seeds written under", ROOT)
