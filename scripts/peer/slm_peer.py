#!/usr/bin/python3
"""SLM the way public third-party Python code does it, timed for comparison with `rho bench`.

Run with Debian's python3-torch (the same libtorch 1.13 and OpenBLAS that rho links). The model is
rho's Llama preset restated as a plain PyTorch module in Hugging Face's eager equations (RMSNorm,
rotate-half rotary embeddings, grouped-query attention with repeat_kv, SwiGLU), fp32, initialised
N(0, 0.02) like HF. Each SLM step does what the public SLM training loops do:
  - the reference model's forward inside every step (under no_grad), full (B, T, V) logits;
  - the trained model's forward to full (B, T, V) logits, per-token cross-entropy;
  - excess loss, per-sequence torch.topk, a 0/1 mask, the mean loss over kept tokens;
  - backward through the full logits, grad clipping at 1.0, AdamW (lr 3e-4, betas 0.9/0.95, wd 0.1).
A CLM step (the same model, the mean loss over all tokens) is timed too, interleaved.

    /usr/bin/python3 scripts/peer/slm_peer.py --preset demo --batch 8 --seq-len 256 --steps 5
"""
import argparse
import math
import statistics
import time

import torch
import torch.nn.functional as F

# rho's presets (src/model/config.cpp), at their default vocabularies.
PRESETS = {
    "debug": dict(vocab_size=512, hidden_size=64, intermediate_size=176, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2),
    "demo-s": dict(vocab_size=4096, hidden_size=192, intermediate_size=512, num_hidden_layers=4,
                   num_attention_heads=6, num_key_value_heads=2),
    "demo": dict(vocab_size=4096, hidden_size=320, intermediate_size=864, num_hidden_layers=6,
                 num_attention_heads=8, num_key_value_heads=4),
}


class RMSNorm(torch.nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


class Layer(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        C, F_, self.H, self.K = c["hidden_size"], c["intermediate_size"], c["num_attention_heads"], c["num_key_value_heads"]
        self.D = C // self.H
        lin = lambda i, o: torch.nn.Linear(i, o, bias=False)
        self.q, self.k, self.v, self.o = lin(C, C), lin(C, self.K * self.D), lin(C, self.K * self.D), lin(C, C)
        self.gate, self.up, self.down = lin(C, F_), lin(C, F_), lin(F_, C)
        self.n1, self.n2 = RMSNorm(C), RMSNorm(C)

    def forward(self, x, cos, sin, mask):
        B, T, C = x.shape
        h = self.n1(x)
        q = self.q(h).view(B, T, self.H, self.D).transpose(1, 2)
        k = self.k(h).view(B, T, self.K, self.D).transpose(1, 2)
        v = self.v(h).view(B, T, self.K, self.D).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        rep = self.H // self.K  # HF repeat_kv
        k = k[:, :, None].expand(B, self.K, rep, T, self.D).reshape(B, self.H, T, self.D)
        v = v[:, :, None].expand(B, self.K, rep, T, self.D).reshape(B, self.H, T, self.D)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.D) + mask, dim=-1)
        x = x + self.o((att @ v).transpose(1, 2).reshape(B, T, C))
        h = self.n2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embed = torch.nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = torch.nn.ModuleList(Layer(c) for _ in range(c["num_hidden_layers"]))
        self.norm = RMSNorm(c["hidden_size"])
        self.lm_head = torch.nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)
        for p in self.parameters():
            if p.dim() >= 2:
                torch.nn.init.normal_(p, 0.0, 0.02)

    def forward(self, ids):  # (B, T) -> logits (B, T, V)
        T = ids.shape[1]
        D = self.c["hidden_size"] // self.c["num_attention_heads"]
        inv_freq = 1.0 / (10000.0 ** (torch.arange(0, D, 2, dtype=torch.float32) / D))
        emb = torch.cat([torch.outer(torch.arange(T, dtype=torch.float32), inv_freq)] * 2, dim=-1)
        mask = torch.full((T, T), float("-inf")).triu(1)
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x, emb.cos(), emb.sin(), mask)
        return self.lm_head(self.norm(x))


def token_losses(logits, targets):
    B, T, V = logits.shape
    return F.cross_entropy(logits.reshape(B * T, V), targets.reshape(-1), reduction="none").view(B, T)


def slm_step(model, ref, opt, inputs, targets, ratio):
    with torch.no_grad():
        ref_losses = token_losses(ref(inputs), targets)
    losses = token_losses(model(inputs), targets)
    excess = losses.detach() - ref_losses
    k = max(1, math.ceil(ratio * excess.shape[1]))
    _, idx = torch.topk(excess, k, dim=-1)  # per sequence
    mask = torch.zeros_like(excess).scatter_(1, idx, 1.0)
    loss = (losses * mask).sum() / mask.sum()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad()
    return loss.item()


def clm_step(model, opt, inputs, targets):
    loss = token_losses(model(inputs), targets).mean()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad()
    return loss.item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="demo", choices=sorted(PRESETS))
    ap.add_argument("--vocab", type=int, default=0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--ratio", type=float, default=0.6)
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: library default)")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    c = dict(PRESETS[a.preset])
    if a.vocab > 0:
        c["vocab_size"] = a.vocab
    torch.manual_seed(1)
    model, ref = Llama(c), Llama(c).eval()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1)
    ids = torch.randint(c["vocab_size"], (a.batch, a.seq_len + 1))
    inputs, targets = ids[:, :-1].contiguous(), ids[:, 1:].contiguous()
    times = {"slm": [], "clm": []}
    cpu = {"slm": [], "clm": []}
    for i in range(a.warmup + a.steps):
        for name in ("slm", "clm"):  # interleaved, like rho bench
            c0, t0 = time.process_time(), time.perf_counter()
            slm_step(model, ref, opt, inputs, targets, a.ratio) if name == "slm" else clm_step(model, opt, inputs, targets)
            if i >= a.warmup:
                times[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
    params = sum(p.numel() for p in model.parameters())
    print(f"peer preset {a.preset} | params {params / 1e6:.2f}M | B {a.batch} x T {a.seq_len} | "
          f"torch {torch.__version__} threads {torch.get_num_threads()}")
    for name in ("slm", "clm"):
        print(f"peer {name} step median {1e3 * statistics.median(times[name]):.1f} ms over {a.steps} steps, "
              f"process CPU time {1e3 * statistics.median(cpu[name]):.1f} ms")


if __name__ == "__main__":
    main()
