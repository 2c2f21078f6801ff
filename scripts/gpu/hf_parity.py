#!/usr/bin/env python3
"""Parity cases made with the real `transformers` (run on the GPU machine, where it is installed).

    hf_parity.py OUT [RHO_BINARY]

Writes OUT/config.json + OUT/model.safetensors (a randomly initialised small LlamaForCausalLM,
saved by save_pretrained) and OUT/expected.safetensors with input_ids, targets and what
transformers computes for them: logits and per-token losses in fp32 on the CPU (eager
attention, the exact reference) and logits in bf16 on CUDA when available.
tests/test_hf_parity.cpp compares rho against it when RHO_HF_PARITY_DIR=OUT.

With RHO_BINARY it also checks every family rho runs, each a tiny random model built and saved
by transformers itself (OUT-families/<name>/): Llama with llama3 rotary scaling, a tied head and
head_dim != hidden / heads; Llama with linear scaling and attention biases; Qwen2 with q/k/v
biases, a tied head and theta 1e6 (window off, as Qwen2.5 ships); Qwen2 and Mistral with sliding
windows (16) shorter than the sequence (64). For each: `rho model logits` against transformers'
fp32 eager logits (bound 1e-4), and `rho export` loaded back by transformers (the same class,
logits within 1e-5). Prints one line per family; exits 1 if any fails.
"""
import json
import os
import shutil
import subprocess
import sys

import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import (AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM,
                          Qwen2Config, Qwen2ForCausalLM)

TRANSFORMERS_5 = int(transformers.__version__.split(".")[0]) >= 5


def widen(model):
    """HF's init has zero-mean weights of std 0.02 and zero biases; widen the weights so logits
    are not all near 0, and draw the biases so a missing one shows."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.normal_(0.0, 0.1)
            elif p.dim() == 2:
                p.mul_(3.0)
    return model


def llama_case(out):
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=512, hidden_size=128, intermediate_size=344, num_hidden_layers=3,
                      num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=256,
                      rms_norm_eps=1e-5, tie_word_embeddings=False, attn_implementation="eager")
    model = widen(LlamaForCausalLM(cfg).float().eval())
    model.save_pretrained(out, safe_serialization=True)
    ids = torch.randint(0, cfg.vocab_size, (2, 65), generator=torch.Generator().manual_seed(1))
    inputs, targets = ids[:, :-1].contiguous(), ids[:, 1:].contiguous()
    with torch.no_grad():
        logits = model(inputs).logits.float()
        losses = torch.nn.functional.cross_entropy(logits.reshape(-1, cfg.vocab_size), targets.reshape(-1),
                                                   reduction="none").view(targets.shape)
        expected = {"input_ids": inputs, "targets": targets, "logits_fp32": logits.contiguous(),
                    "per_token_loss": losses}
        if torch.cuda.is_available():
            m16 = LlamaForCausalLM.from_pretrained(out, dtype=torch.bfloat16).cuda().eval()
            expected["logits_bf16"] = m16(inputs.cuda()).logits.float().cpu().contiguous()
    save_file(expected, f"{out}/expected.safetensors")
    print(f"wrote {out}: transformers parity case, logits |max| {logits.abs().max():.3f}")


def rope(theta, scaling=None):
    """The rotary settings as this transformers version takes them: 5 nests them in
    rope_parameters, 4 has rope_theta and rope_scaling."""
    if TRANSFORMERS_5:
        return {"rope_parameters": dict(scaling or {"rope_type": "default"}, rope_theta=theta)}
    return {"rope_theta": theta, "rope_scaling": scaling}


SHAPE = dict(vocab_size=384, hidden_size=128, intermediate_size=256, num_hidden_layers=3, num_attention_heads=8,
             num_key_value_heads=2, max_position_embeddings=4096, rms_norm_eps=1e-6, attn_implementation="eager")
LLAMA3 = {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
          "original_max_position_embeddings": 1024}
FAMILIES = {
    "llama3_tied": (LlamaConfig, LlamaForCausalLM,
                    dict(head_dim=32, tie_word_embeddings=True, **rope(500000.0, LLAMA3))),
    "llama_linear_bias": (LlamaConfig, LlamaForCausalLM,
                          dict(attention_bias=True, **rope(10000.0, {"rope_type": "linear", "factor": 4.0}))),
    "qwen2_tied": (Qwen2Config, Qwen2ForCausalLM,
                   dict(tie_word_embeddings=True, use_sliding_window=False, sliding_window=16, max_window_layers=1,
                        **rope(1000000.0))),
    "qwen2_swa": (Qwen2Config, Qwen2ForCausalLM,
                  dict(use_sliding_window=True, sliding_window=16, max_window_layers=1, **rope(1000000.0))),
    "mistral_swa": (MistralConfig, MistralForCausalLM, dict(sliding_window=16, **rope(10000.0))),
}


def family_case(root, seed, name, config_cls, model_cls, extra, rho):
    out = os.path.join(root, name)
    torch.manual_seed(seed)
    model = widen(model_cls(config_cls(**SHAPE, **extra)).float().eval())
    model.save_pretrained(out, safe_serialization=True)
    ids = torch.randint(0, SHAPE["vocab_size"], (2, 64), generator=torch.Generator().manual_seed(2))
    with open(f"{out}-ids.json", "w") as f:
        json.dump(ids.tolist(), f)
    with torch.no_grad():
        want = model(ids).logits.float()
    subprocess.run([rho, "model", "logits", "--model", out, "--input-ids", f"{out}-ids.json",
                    "--out", f"{out}-rho.safetensors"], check=True)
    got = load_file(f"{out}-rho.safetensors")["logits"]
    err = (got - want).abs().max().item()
    # rho's export, loaded back by transformers as the same class.
    exported = f"{out}-export"
    shutil.rmtree(exported, ignore_errors=True)  # rho never writes over an existing directory
    subprocess.run([rho, "export", out, "--out", exported, "--allow-unrecorded-tokenizer"], check=True,
                   stderr=subprocess.DEVNULL)
    back = AutoModelForCausalLM.from_pretrained(exported, dtype=torch.float32, attn_implementation="eager").eval()
    with torch.no_grad():
        export_err = (back(ids).logits.float() - want).abs().max().item()
    same_class = type(back).__name__ == model_cls.__name__
    ok = err <= 1e-4 and export_err <= 1e-5 and same_class
    print(f"{name:18s} rho model logits vs transformers: max abs {err:.3g} (bound 1e-4); rho export in "
          f"transformers: {type(back).__name__}, max abs {export_err:.3g} (bound 1e-5) "
          f"[{'ok' if ok else 'FAIL'}] (|logits| max {want.abs().max():.3f})")
    return ok


def main():
    out = sys.argv[1]
    llama_case(out)
    if len(sys.argv) < 3:
        return
    rho, root = sys.argv[2], out.rstrip("/") + "-families"
    print(f"families with transformers {transformers.__version__}:")
    results = [family_case(root, i, name, *spec, rho) for i, (name, spec) in enumerate(FAMILIES.items())]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
