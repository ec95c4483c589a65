# Makes tiny.onnx (conv3x3 3->8, ReLU, global mean, fc 8->10; input "pixels" [batch,3,32,32]) and its
# weights as tiny.safetensors, for OnnxClassifier tests. Run with Debian's python3-torch (1.13):
#   /usr/bin/python3 make_tiny.py
import json, struct
import torch, torch.nn as nn

torch.manual_seed(0)

class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))

m = Tiny().eval()
torch.onnx.export(m, torch.randn(2, 3, 32, 32), "tiny.onnx", input_names=["pixels"], output_names=["logits"],
                  dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13)
tensors = {k: v.detach().contiguous().numpy() for k, v in m.state_dict().items()}
header, blobs, off = {}, [], 0
for k, v in tensors.items():
    b = v.astype("<f4").tobytes()
    header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
    blobs.append(b)
    off += len(b)
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open("tiny.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
