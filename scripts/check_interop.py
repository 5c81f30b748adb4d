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
sys.exit(0 if diff < 1e-4 else 1)
