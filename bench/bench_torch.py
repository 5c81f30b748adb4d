#!/usr/bin/python3
"""PyTorch side of the benchmark: the same configs as bench.c, float32, the same thread count.
Run with OMP_WAIT_POLICY=PASSIVE (the issue's measured best setting; bench/run_bench.sh sets it)."""
import os, sys, time, math
import torch
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))
from torch_gpt import GPT

torch.set_num_threads(int(os.environ.get("THREADS", "2")))
quick = len(sys.argv) > 1 and sys.argv[1] == "quick"
for name, L, H, C in (("S", 4, 4, 256), ("M", 6, 6, 384)):
    B, T, V = 8, 256, 256
    m = GPT(V, L, H, C, T)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
    x = torch.randint(0, V, (B, T)); y = torch.randint(0, V, (B, T))
    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(m(x).view(-1, V), y.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
    step()
    best = min((lambda t0: (step(), time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(3 if quick else 6))
    with torch.no_grad():
        m(x)
        bests = min((lambda t0: (m(x), time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(3 if quick else 6))
    # batch-1 generation with a KV cache (the usual incremental attention)
    with torch.no_grad():
        tr = m.transformer; n = 200
        tg = 1e9
        for rep in range(1 if quick else 3):   # best of 3 passes, as on decar's side
            kc = [torch.zeros(1, H, T, C // H) for _ in range(L)]; vc = [torch.zeros(1, H, T, C // H) for _ in range(L)]
            t0 = time.perf_counter()
            for p in range(n):
                h = tr.wte.weight[p % V].view(1, 1, C) + tr.wpe.weight[p].view(1, 1, C)
                for l, b in enumerate(tr.h):
                    q, k, v = b.attn.c_attn(b.ln_1(h)).split(C, dim=2)
                    q, k, v = [t.view(1, 1, H, C // H).transpose(1, 2) for t in (q, k, v)]
                    kc[l][:, :, p] = k[:, :, 0]; vc[l][:, :, p] = v[:, :, 0]
                    a = torch.softmax((q @ kc[l][:, :, :p + 1].transpose(-2, -1)) / math.sqrt(C // H), dim=-1) @ vc[l][:, :, :p + 1]
                    h = h + b.attn.c_proj(a.transpose(1, 2).reshape(1, 1, C))
                    h = h + b.mlp.c_proj(torch.nn.functional.gelu(b.mlp.c_fc(b.ln_2(h)), approximate="tanh"))
                logits = tr.ln_f(h) @ tr.wte.weight.t()
            tg = min(tg, time.perf_counter() - t0)
    print("torch %s: train %.0f tok/s (%.1f ms/step), score %.0f tok/s, generate %.0f tok/s" % (name, B * T / best, best * 1e3, B * T / bests, n / tg))
    print("RESULT torch_train_%s %.1f\nRESULT torch_score_%s %.1f\nRESULT torch_gen_%s %.1f" % (name, B * T / best, name, B * T / bests, name, n / tg))
