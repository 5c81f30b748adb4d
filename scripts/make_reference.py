#!/usr/bin/python3
"""Write tests/ref_gpt.bin: a small GPT's inputs, parameters, logits (causal and non-causal), loss, every parameter
gradient, and 5 AdamW steps (losses and final parameters), computed by PyTorch (Debian's python3-torch 1.13).
Run: /usr/bin/python3 scripts/make_reference.py tests/ref_gpt.bin
Format: b"DCREF001", int32 version 1, then records (int32 name length, name, int32 ndim, int32 dims, float32 data),
ended by a record of name length 0. Integers (ids, targets, config) are stored as exact floats."""
import math, struct, sys
import torch
sys.path.insert(0, __import__("os").path.dirname(__file__))
from torch_gpt import GPT

torch.manual_seed(1234)
V, L, H, C, TMAX, B, T = 67, 2, 3, 45, 11, 2, 9          # odd sizes on purpose: head size 15, T < seq_len
LR, MIN_LR, B1, B2, EPS, WD, CLIP, WARM, TOTAL = 1e-2, 1e-3, 0.9, 0.95, 1e-8, 0.1, 1.0, 2, 5

def lr_at(step):   # decar_opt_lr
    if step < WARM:
        return LR * (step + 1) / WARM
    if step >= TOTAL:
        return MIN_LR
    r = (step - WARM) / max(TOTAL - WARM, 1)
    return MIN_LR + 0.5 * (1 + math.cos(math.pi * r)) * (LR - MIN_LR)

model = GPT(V, L, H, C, TMAX, causal=1)
with torch.no_grad():   # GPT-2 init, as decar
    for n, p in model.named_parameters():
        if p.dim() == 2:
            std = 0.02 / math.sqrt(2 * L) if n.endswith("c_proj.weight") else 0.02
            p.normal_(0, std)
        elif n.endswith(".weight"):
            p.fill_(1.0)
        else:
            p.normal_(0, 0.02)   # non-zero biases so their gradients are exercised
ids = torch.randint(0, V, (B, T))
targets = torch.randint(0, V, (B, T))
targets[1, 3] = -1   # an ignored position

records = []
def rec(name, t):
    records.append((name, torch.as_tensor(t, dtype=torch.float32).detach().clone()))

rec("config", [V, L, H, C, TMAX, B, T])
rec("opt", [LR, MIN_LR, B1, B2, EPS, WD, CLIP, WARM, TOTAL])
rec("ids", ids)
rec("targets", targets)
names = [n for n, _ in model.named_parameters()]
for n, p in model.named_parameters():
    rec("p." + n, p)
logits = model(ids)
loss = torch.nn.functional.cross_entropy(logits.view(-1, V), targets.view(-1), ignore_index=-1)
loss.backward()
rec("logits", logits)
rec("loss", [loss.item()])
for n, p in model.named_parameters():
    rec("g." + n, p.grad)
nc = GPT(V, L, H, C, TMAX, causal=0)
nc.load_state_dict(model.state_dict())
rec("logits_noncausal", nc(ids))

decay = [p for p in model.parameters() if p.dim() >= 2]
other = [p for p in model.parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD}, {"params": other, "weight_decay": 0.0}],
                        lr=LR, betas=(B1, B2), eps=EPS)
losses = []
for step in range(5):
    for g in opt.param_groups:
        g["lr"] = lr_at(step)
    opt.zero_grad()
    logits = model(ids)
    loss = torch.nn.functional.cross_entropy(logits.view(-1, V), targets.view(-1), ignore_index=-1)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
    opt.step()
    losses.append(loss.item())
rec("losses", losses)
for n, p in model.named_parameters():
    rec("after." + n, p)

with open(sys.argv[1] if len(sys.argv) > 1 else "tests/ref_gpt.bin", "wb") as f:
    f.write(b"DCREF001")
    f.write(struct.pack("<i", 1))
    for name, t in records:
        nb = name.encode()
        f.write(struct.pack("<i", len(nb)) + nb + struct.pack("<i", t.dim()))
        f.write(struct.pack("<%di" % t.dim(), *t.shape))
        f.write(t.contiguous().numpy().astype("<f4").tobytes())
    f.write(struct.pack("<i", 0))
print("wrote %d records; initial loss %.6f" % (len(records), losses[0]))
