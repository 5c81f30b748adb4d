#!/usr/bin/python3
"""Hugging Face GPT-2 interchange, both directions, checked through PyTorch. Never needed by decar.
  check_hf.py export DIR   DIR/hf_out (written by `decar export --format hf`) run as GPT-2 (transformers'
                           GPT2LMHeadModel when installed, else the plain-torch GPT-2 below, which follows
                           transformers' modeling_gpt2: Conv1D weights (in, out), tied head, gelu_new); its logits
                           must equal the ones decar wrote (DIR/interop_logits.npy for the same ids)
  check_hf.py tokenizer TOKDIR IDS TEXT
                           transformers' GPT2Tokenizer reading decar's vocab.json + merges.txt must encode TEXT to
                           IDS (the ids decar printed); skipped without transformers
  check_hf.py make DIR     writes a random GPT-2 in Hugging Face's format to DIR/hf_in (transformers'
                           save_pretrained when installed, else the plain writer below) with its logits for fixed
                           ids, for `test_interop DIR import` to read with decar_gpt_import_hf and compare."""
import json, math, os, struct, sys
import numpy as np
import torch
import torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_gpt import read_safetensors   # the plain reader of the format, shared with check_interop.py

IDS = [[256 if i in (0, 13) else (i * 37) % 256 for i in range(26)]]   # test_interop's ids, as (2, 13)


def read_st(path):
    return read_safetensors(path)[0]


def write_st(path, sd):
    header, blobs, off = {}, [], 0
    for k, v in sd.items():
        b = v.contiguous().numpy().astype("<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def gpt2_forward(sd, cfg, ids):
    """GPT-2 as transformers' modeling_gpt2 computes it (eval mode), from a GPT2LMHeadModel state dict."""
    p0 = "transformer." if "transformer.wte.weight" in sd else ""
    C, H, L = cfg["n_embd"], cfg["n_head"], cfg["n_layer"]
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    conv1d = lambda x, w, b: torch.addmm(b, x.reshape(-1, x.shape[-1]), w).reshape(*x.shape[:-1], w.shape[1])
    B, T = ids.shape
    x = sd[p0 + "wte.weight"][ids] + sd[p0 + "wpe.weight"][torch.arange(T)]
    for l in range(L):
        p = "%sh.%d." % (p0, l)
        h = F.layer_norm(x, (C,), sd[p + "ln_1.weight"], sd[p + "ln_1.bias"], eps)
        q, k, v = conv1d(h, sd[p + "attn.c_attn.weight"], sd[p + "attn.c_attn.bias"]).split(C, dim=2)
        q, k, v = [t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v)]
        att = (q @ k.transpose(-1, -2)) / math.sqrt(C // H)
        att = att.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), torch.finfo(att.dtype).min)
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C)
        x = x + conv1d(y, sd[p + "attn.c_proj.weight"], sd[p + "attn.c_proj.bias"])
        h = F.layer_norm(x, (C,), sd[p + "ln_2.weight"], sd[p + "ln_2.bias"], eps)
        h = F.gelu(conv1d(h, sd[p + "mlp.c_fc.weight"], sd[p + "mlp.c_fc.bias"]), approximate="tanh")
        x = x + conv1d(h, sd[p + "mlp.c_proj.weight"], sd[p + "mlp.c_proj.bias"])
    x = F.layer_norm(x, (C,), sd[p0 + "ln_f.weight"], sd[p0 + "ln_f.bias"], eps)
    return x @ sd[p0 + "wte.weight"].t()


def transformers_model(d):
    try:
        from transformers import GPT2LMHeadModel
    except Exception:
        return None
    return GPT2LMHeadModel.from_pretrained(d).eval()


def main():
    mode, d = sys.argv[1], sys.argv[2]
    if mode == "tokenizer":
        try:
            from transformers import GPT2Tokenizer
        except Exception:
            print("SKIP: transformers not installed (tokenizer compatibility)")
            sys.exit(0)
        t = GPT2Tokenizer(os.path.join(d, "vocab.json"), os.path.join(d, "merges.txt"))
        theirs = t.encode(sys.argv[4])
        ours = [int(x) for x in sys.argv[3].split()]
        print("tokenizer: transformers' GPT2Tokenizer on decar's files: %d tokens, %s" % (len(theirs), "identical ids" if theirs == ours else "DIFFERENT ids"))
        sys.exit(0 if theirs == ours else 1)
    ids = torch.tensor(IDS).view(2, 13)
    if mode == "export":
        out = os.path.join(d, "hf_out")
        cfg = json.load(open(os.path.join(out, "config.json")))
        ref = np.load(os.path.join(d, "interop_logits.npy"))
        with torch.no_grad():
            mine = gpt2_forward(read_st(os.path.join(out, "model.safetensors")), cfg, ids).reshape(26, -1).numpy()
        diff = float(np.abs(mine - ref).max())
        print("export: decar -> Hugging Face GPT-2 layout, plain-torch GPT-2 forward: max |logits diff| = %.3g" % diff)
        ok = diff < 1e-4
        m = transformers_model(out)
        if m is not None:
            with torch.no_grad():
                hf = m(ids).logits.reshape(26, -1).numpy()
            d2 = float(np.abs(hf - ref).max())
            print("export: transformers GPT2LMHeadModel.from_pretrained: max |logits diff| = %.3g" % d2)
            ok = ok and d2 < 1e-4
        else:
            print("note: transformers not installed; checked with the plain-torch GPT-2 forward only")
        sys.exit(0 if ok else 1)
    if mode == "make":
        out = os.path.join(d, "hf_in")
        os.makedirs(out, exist_ok=True)
        cfg = dict(architectures=["GPT2LMHeadModel"], model_type="gpt2", vocab_size=258, n_positions=20, n_ctx=20,
                   n_embd=32, n_layer=3, n_head=4, n_inner=None, activation_function="gelu_new",
                   layer_norm_epsilon=1e-5, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=256,
                   eos_token_id=256, tie_word_embeddings=True)
        torch.manual_seed(7)
        try:
            from transformers import GPT2Config, GPT2LMHeadModel
            m = GPT2LMHeadModel(GPT2Config(**{k: v for k, v in cfg.items() if k != "architectures"})).eval()
            with torch.no_grad():
                for p in m.parameters():
                    p.add_(0.05 * torch.randn_like(p))   # not the init: biases and LayerNorms too
            m.save_pretrained(out, safe_serialization=True)
            with torch.no_grad():
                logits = m(ids).logits
            how = "transformers save_pretrained"
        except ImportError:
            C, L = cfg["n_embd"], cfg["n_layer"]
            r = lambda *s: 0.1 * torch.randn(*s)
            sd = {"transformer.wte.weight": r(258, C), "transformer.wpe.weight": r(20, C)}
            for l in range(L):
                p = "transformer.h.%d." % l
                sd.update({p + "ln_1.weight": 1 + r(C), p + "ln_1.bias": r(C), p + "attn.c_attn.weight": r(C, 3 * C),
                           p + "attn.c_attn.bias": r(3 * C), p + "attn.c_proj.weight": r(C, C), p + "attn.c_proj.bias": r(C),
                           p + "ln_2.weight": 1 + r(C), p + "ln_2.bias": r(C), p + "mlp.c_fc.weight": r(C, 4 * C),
                           p + "mlp.c_fc.bias": r(4 * C), p + "mlp.c_proj.weight": r(4 * C, C), p + "mlp.c_proj.bias": r(C)})
            sd["transformer.ln_f.weight"] = 1 + r(C)
            sd["transformer.ln_f.bias"] = r(C)
            write_st(os.path.join(out, "model.safetensors"), sd)
            json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=2)
            with torch.no_grad():
                logits = gpt2_forward(sd, cfg, ids)
            how = "plain writer (transformers not installed)"
        np.save(os.path.join(out, "logits.npy"), logits.reshape(26, -1).numpy().astype(np.float32))
        print("make: a random GPT-2 in Hugging Face's format (%s) in %s" % (how, out))


if __name__ == "__main__":
    main()
