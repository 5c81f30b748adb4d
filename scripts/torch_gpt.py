"""A PyTorch GPT with decar's architecture and parameter names (nanoGPT's, torch.nn.Linear layout).
Used only to make reference files and to check that decar checkpoints load in PyTorch; never needed by decar."""
import json, math, struct
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, C, H, causal):
        super().__init__()
        self.H, self.causal = H, causal
        self.ln_1 = nn.LayerNorm(C)
        self.attn = nn.Module()
        self.attn.c_attn = nn.Linear(C, 3 * C)
        self.attn.c_proj = nn.Linear(C, C)
        self.ln_2 = nn.LayerNorm(C)
        self.mlp = nn.Module()
        self.mlp.c_fc = nn.Linear(C, 4 * C)
        self.mlp.c_proj = nn.Linear(4 * C, C)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.attn.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = [t.view(B, T, self.H, C // self.H).transpose(1, 2) for t in (q, k, v)]
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // self.H)
        if self.causal:
            att = att.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
        y = (F.softmax(att, dim=-1) @ v).transpose(1, 2).reshape(B, T, C)
        x = x + self.attn.c_proj(y)
        return x + self.mlp.c_proj(F.gelu(self.mlp.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, vocab_size, n_layer, n_head, d_model, seq_len, causal=1):
        super().__init__()
        self.transformer = nn.Module()
        self.transformer.wte = nn.Embedding(vocab_size, d_model)
        self.transformer.wpe = nn.Embedding(seq_len, d_model)
        self.transformer.h = nn.ModuleList([Block(d_model, n_head, causal) for _ in range(n_layer)])
        self.transformer.ln_f = nn.LayerNorm(d_model)

    def forward(self, ids):
        T = ids.shape[1]
        x = self.transformer.wte(ids) + self.transformer.wpe(torch.arange(T))
        for b in self.transformer.h:
            x = b(x)
        return self.transformer.ln_f(x) @ self.transformer.wte.weight.t()   # tied output


def read_safetensors(path):
    """A plain reader of the safetensors format (8-byte header length, JSON, raw data)."""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out = {}
    for name, t in header.items():
        assert t["dtype"] == "F32", name
        b, e = t["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[b:e]), dtype=torch.float32).reshape(t["shape"])
    return out, meta


def load_safetensors(path):
    try:
        from safetensors.torch import load_file   # the reference implementation, when installed
        tensors = load_file(path)
        meta = {}
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            meta = json.loads(f.read(n)).get("__metadata__", {})
        return tensors, meta, "safetensors"
    except ImportError:
        t, m = read_safetensors(path)
        return t, m, "plain reader (python safetensors not installed)"
