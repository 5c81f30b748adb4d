"""PyTorch 2 as a user writes it today, beside decar's bench (bench/run_bench.sh runs it from its own venv).

The same configs as bench/bench.c, the same thread count, AdamW with clipping, tied embeddings:
  S, M     4 layers d 256 / 6 layers d 384, batch 8 x 256 (bench.c's model section)
  T1, T2   the scaling study's models: 1 layer d 32 (2 heads), 2 layers d 64 (2 heads), batch 16 x 64
Attention is F.scaled_dot_product_attention (causal). Three columns:
  fp32     float32 throughout
  bf16     torch.autocast("cpu", dtype=torch.bfloat16) around the forward (only where the CPU has BF16 or AMX)
  compile  torch.compile of the model, under the same autocast where bf16 runs (else fp32), where it works
Prints `RESULT torch2_{train,score}_{mode}_{cfg} tok/s` lines (best of N steps). Usage: python bench_torch2.py [quick];
CONFIGS=T1,T2 in the environment runs only those configs (run_bench.sh's one-thread rows of the study's models)."""
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

TH = int(os.environ.get("THREADS", "2"))
torch.set_num_threads(TH)
quick = len(sys.argv) > 1 and sys.argv[1] == "quick"
flags = open("/proc/cpuinfo").read()
has_bf16 = " avx512_bf16 " in flags or " amx_bf16 " in flags


class Block(nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.H = H
        self.ln_1, self.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.c_attn, self.c_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        self.c_fc, self.c_fc_proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = [t.view(B, T, self.H, C // self.H).transpose(1, 2) for t in (q, k, v)]
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
        x = x + self.c_proj(y)
        return x + self.c_fc_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, V, L, H, C, T):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
        self.h = nn.ModuleList([Block(C, H) for _ in range(L)])
        self.ln_f = nn.LayerNorm(C)

    def forward(self, ids):
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
        for b in self.h:
            x = b(x)
        return self.ln_f(x) @ self.wte.weight.t()


def bench(cfg, L, H, C, B, T, mode):
    V = 256
    torch.manual_seed(1)
    m = GPT(V, L, H, C, T)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
    fwd = torch.compile(m) if mode == "compile" else m
    amp = mode == "bf16" or (mode == "compile" and has_bf16)
    x, y = torch.randint(0, V, (B, T)), torch.randint(0, V, (B, T))

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            loss = F.cross_entropy(fwd(x).view(-1, V).float(), y.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()

    def score():
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            return F.cross_entropy(fwd(x).view(-1, V).float(), y.view(-1), reduction="none")

    n = 3 if quick else 6
    if T <= 64:
        n *= 8  # tiny steps: more of them, as bench.c does
    for f in (step, score):  # warm-up (and compilation)
        f()
        f()
    best = {}
    for name, f in (("train", step), ("score", score)):
        t = 1e9
        for _ in range(n):
            t0 = time.perf_counter()
            f()
            t = min(t, time.perf_counter() - t0)
        best[name] = B * T / t
        print("RESULT torch2_%s_%s_%s %.1f" % (name, mode, cfg, best[name]))
    print("torch %s %s %s: train %.0f tok/s, score %.0f tok/s" % (torch.__version__, mode, cfg, best["train"],
                                                                  best["score"]), flush=True)


configs = [("S", 4, 4, 256, 8, 256), ("M", 6, 6, 384, 8, 256), ("T1", 1, 2, 32, 16, 64), ("T2", 2, 2, 64, 16, 64)]
only = os.environ.get("CONFIGS", "")
if only:
    configs = [c for c in configs if c[0] in only.split(",")]
modes = ["fp32"] + (["bf16"] if has_bf16 else []) + ["compile"]
print("PyTorch %s, %d threads, CPU BF16: %s; modes %s" % (torch.__version__, TH, "yes" if has_bf16 else "no",
                                                         ",".join(modes)), flush=True)
for cfg in configs:
    for mode in modes:
        try:
            bench(*cfg, mode)
        except Exception as ex:  # torch.compile needs a C++ compiler and may fail: a column left empty, said why
            print("torch2 %s %s: failed (%s)" % (mode, cfg[0], str(ex).split("\n")[0][:200]), flush=True)
