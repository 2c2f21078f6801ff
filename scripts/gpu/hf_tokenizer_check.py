#!/usr/bin/env python3
"""What rho writes for transformers, beyond the weights: tokenizers and tied heads.

    hf_tokenizer_check.py RHO_BINARY SOURCE_DIR WORK_DIR

1. Tokenizer: a tiny model trained from a tokenizer rho trained (tests/fixtures/tokenizers/
   rho_bpe.model, made by `rho tokenizer train`: BPE, byte fallback, no dummy prefix) is exported;
   transformers' AutoTokenizer must load the export and give, for every text of the fixture
   corpus (whitespace runs, digits, bytes outside the vocabulary), the ids `rho tokenizer encode`
   gives with the same directory, with add_special_tokens=False and with transformers' default
   (the export says add_bos_token false: rho trains without BOS).
2. Tied head written by safetensors' own save_model (only lm_head.weight stored, the embedding
   named as its alias in __metadata__): `rho model logits` must give transformers' logits.
Prints one line per check; exits 1 if any fails.
"""
import json
import os
import shutil
import subprocess
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_model
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM


def run(*args):
    subprocess.run(list(args), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def tokenizer_case(rho, src, work):
    fix = os.path.join(src, "tests", "fixtures", "tokenizers")
    texts = [json.loads(line)["text"] for line in open(os.path.join(fix, "corpus.jsonl"), encoding="utf-8")]
    texts += ["line 7: the cat sat on mat 49 and counted 21 birds.", "  two leading spaces", "tabs\tand\nnewlines\n\n",
              "digits 1234567890 and 3.14159", "ünïcödé, 日本語, emoji 🙂"]
    corpus = os.path.join(work, "texts.jsonl")
    with open(corpus, "w", encoding="utf-8") as f:
        for t in texts * 20:
            f.write(json.dumps({"text": t}) + "\n")
    run(rho, "tokenize", "--tokenizer", os.path.join(fix, "rho_bpe.model"), "--input", corpus,
        "--out-dir", os.path.join(work, "shards"))
    run(rho, "train", "--data", os.path.join(work, "shards"), "--out", os.path.join(work, "run"), "--preset", "debug",
        "--steps", "2", "--seq-len", "16", "--batch", "2", "--device", "cpu")
    exported = os.path.join(work, "hf")
    run(rho, "export", os.path.join(work, "run", "final"), "--out", exported)
    unique = os.path.join(work, "unique.jsonl")
    with open(unique, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t}) + "\n")
    out = subprocess.run([rho, "tokenizer", "encode", "--tokenizer", exported, "--input", unique], check=True,
                         capture_output=True, text=True).stdout
    want = [json.loads(line) for line in out.splitlines()]
    tok = AutoTokenizer.from_pretrained(exported)
    plain = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    default = [tok(t)["input_ids"] for t in texts]
    bad = [i for i in range(len(texts)) if plain[i] != want[i] or default[i] != want[i]]
    ok = not bad and len(want) == len(texts)
    print(f"AutoTokenizer on rho export: {type(tok).__name__}, {len(texts) - len(bad)} of {len(texts)} texts give "
          f"rho's ids [{'ok' if ok else 'FAIL'}]")
    for i in bad[:5]:
        print(f"  {texts[i]!r}: rho {want[i]}, transformers {plain[i]} (default {default[i]})")
    return ok


def tied_save_model_case(rho, work):
    out = os.path.join(work, "tied-save-model")
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(5)
    cfg = LlamaConfig(vocab_size=384, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                      num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=256,
                      tie_word_embeddings=True, attn_implementation="eager")
    model = LlamaForCausalLM(cfg).float().eval()
    with torch.no_grad():
        model.model.embed_tokens.weight.mul_(3.0)
    cfg.save_pretrained(out)
    save_model(model, os.path.join(out, "model.safetensors"))
    with safe_open(os.path.join(out, "model.safetensors"), framework="pt") as f:
        stored, meta = set(f.keys()), f.metadata() or {}
    ids = torch.randint(0, cfg.vocab_size, (2, 24), generator=torch.Generator().manual_seed(6))
    with open(os.path.join(work, "tied-ids.json"), "w") as f:
        json.dump(ids.tolist(), f)
    with torch.no_grad():
        want = model(ids).logits.float()
    run(rho, "model", "logits", "--model", out, "--input-ids", os.path.join(work, "tied-ids.json"),
        "--out", os.path.join(work, "tied-rho.safetensors"))
    err = (load_file(os.path.join(work, "tied-rho.safetensors"))["logits"] - want).abs().max().item()
    written_as_said = "model.embed_tokens.weight" not in stored and "lm_head.weight" in stored
    ok = written_as_said and err <= 1e-4
    print(f"tied head by safetensors.save_model (stored {sorted(k for k in stored if 'embed' in k or 'head' in k)}, "
          f"metadata {meta}): rho model logits max abs {err:.3g} (bound 1e-4) [{'ok' if ok else 'FAIL'}]")
    return ok


def main():
    rho, src, work = sys.argv[1:4]
    shutil.rmtree(work, ignore_errors=True)  # rho never writes over an existing run or export
    os.makedirs(work)
    results = [tokenizer_case(rho, src, work), tied_save_model_case(rho, work)]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
