#!/usr/bin/env python3
"""Checks that what `rho export` writes loads in transformers and computes the same logits.

    hf_export_check.py HF_DIR EXPORTED_DIR
HF_DIR: a checkpoint saved by transformers (scripts/gpu/hf_parity.py's); EXPORTED_DIR: rho's
export of it (`rho export HF_DIR --out EXPORTED_DIR --max-shard-size 200KB`, so sharded). Loads
both with LlamaForCausalLM.from_pretrained, prints the max abs logit difference (fp32, CPU) and
exits 1 above 1e-5 (the weights are the same fp32 numbers).
"""
import sys

import torch
from transformers import LlamaForCausalLM

src, exported = sys.argv[1], sys.argv[2]
a = LlamaForCausalLM.from_pretrained(src, dtype=torch.float32).eval()
b = LlamaForCausalLM.from_pretrained(exported, dtype=torch.float32).eval()
ids = torch.randint(0, a.config.vocab_size, (2, 33), generator=torch.Generator().manual_seed(3))
with torch.no_grad():
    diff = (a(ids).logits - b(ids).logits).abs().max().item()
print(f"rho export loads in transformers: max abs logit difference {diff:.3g} (bound 1e-5)")
sys.exit(0 if diff <= 1e-5 else 1)
