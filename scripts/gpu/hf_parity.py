#!/usr/bin/env python3
"""Makes a Hugging Face parity case with the real `transformers` (run on the GPU machine).

Writes OUT/config.json + OUT/model.safetensors (a randomly initialised small LlamaForCausalLM,
saved by save_pretrained) and OUT/expected.safetensors with input_ids, targets and what
transformers computes for them: logits and per-token losses in fp32 on the CPU (eager
attention, the exact reference) and logits in bf16 on CUDA when available.
tests/test_hf_parity.cpp compares rho against it when RHO_HF_PARITY_DIR=OUT.
"""
import sys

import torch
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM

out = sys.argv[1]
torch.manual_seed(0)
cfg = LlamaConfig(vocab_size=512, hidden_size=128, intermediate_size=344, num_hidden_layers=3,
                  num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=256,
                  rms_norm_eps=1e-5, tie_word_embeddings=False, attn_implementation="eager")
model = LlamaForCausalLM(cfg).float().eval()
with torch.no_grad():  # HF's init has zero-mean weights of std 0.02; widen so logits are not all near 0
    for p in model.parameters():
        if p.dim() == 2:
            p.mul_(3.0)
model.save_pretrained(out, safe_serialization=True)
ids = torch.randint(0, cfg.vocab_size, (2, 65), generator=torch.Generator().manual_seed(1))
inputs, targets = ids[:, :-1].contiguous(), ids[:, 1:].contiguous()
with torch.no_grad():
    logits = model(inputs).logits.float()
    losses = torch.nn.functional.cross_entropy(logits.reshape(-1, cfg.vocab_size), targets.reshape(-1),
                                               reduction="none").view(targets.shape)
    expected = {"input_ids": inputs, "targets": targets, "logits_fp32": logits.contiguous(), "per_token_loss": losses}
    if torch.cuda.is_available():
        m16 = LlamaForCausalLM.from_pretrained(out, dtype=torch.bfloat16).cuda().eval()
        expected["logits_bf16"] = m16(inputs.cuda()).logits.float().cpu().contiguous()
save_file(expected, f"{out}/expected.safetensors")
print(f"wrote {out}: transformers parity case, logits |max| {logits.abs().max():.3f}")
