#!/usr/bin/python3
"""Load a decar checkpoint in PyTorch (python safetensors when installed, else a plain reader of the format), run
the same GPT, and compare with the logits decar wrote. Usage: check_interop.py DIR   (exit 1 on mismatch)"""
import os, sys
import numpy as np
import torch
sys.path.insert(0, os.path.dirname(__file__))
from torch_gpt import GPT, load_safetensors

d = sys.argv[1] if len(sys.argv) > 1 else "build"
tensors, meta, how = load_safetensors(os.path.join(d, "interop.safetensors"))
cfg = {k: int(meta[k]) for k in ("vocab_size", "n_layer", "n_head", "d_model", "seq_len", "causal")}
model = GPT(**cfg)
weights = {k: v for k, v in tensors.items() if not k.startswith("optim.")}
missing, unexpected = model.load_state_dict(weights, strict=True), None
ids = torch.tensor([[256 if i in (0, 13) else (i * 37) % 256 for i in range(26)]]).view(2, 13)
with torch.no_grad():
    logits = model(ids).reshape(26, -1).numpy()
ref = np.load(os.path.join(d, "interop_logits.npy"))
diff = float(np.abs(logits - ref).max())
print("interop: loaded with %s; %d tensors; max |logits diff| = %.3g" % (how, len(weights), diff))

# CLIP's symmetric InfoNCE (decar_clip_loss) against PyTorch: the loss and the gradients of img, txt and tau
x = np.load(os.path.join(d, "clip_in.npy")).reshape(-1)
y = np.load(os.path.join(d, "clip_out.npy")).reshape(-1)
img = torch.tensor(x[:35].reshape(5, 7), dtype=torch.float64, requires_grad=True)
txt = torch.tensor(x[35:70].reshape(5, 7), dtype=torch.float64, requires_grad=True)
tau = torch.tensor(float(x[70]), dtype=torch.float64, requires_grad=True)
I, T = torch.nn.functional.normalize(img, dim=1), torch.nn.functional.normalize(txt, dim=1)
logits = tau.exp() * I @ T.t()
tg = torch.arange(5)
loss = (torch.nn.functional.cross_entropy(logits, tg) + torch.nn.functional.cross_entropy(logits.t(), tg)) / 2
loss.backward()
cdiff = max(abs(loss.item() - float(y[71])), float(np.abs(img.grad.numpy().reshape(-1) - y[:35]).max()),
            float(np.abs(txt.grad.numpy().reshape(-1) - y[35:70]).max()), abs(tau.grad.item() - float(y[70])))
print("interop: CLIP loss %.6f (PyTorch %.6f); max |diff| over the loss and its gradients = %.3g" %
      (float(y[71]), loss.item(), cdiff))
sys.exit(0 if diff < 1e-4 and cdiff < 1e-5 else 1)
