#!/usr/bin/env python3
"""The ablation's variants, named once: demo.sh asks for run names and rho train flags, report.py
for names and labels. An ABLATION entry is KIND:VALUE,VALUE,... where KIND is
  excess | ref-loss | current-loss | random   SLM with that --score, VALUE = k (--ratio)
  softmax                                     --weighting softmax, VALUE = --temperature
  stream                                      --selection-scope stream, VALUE = k
  xtok                                        excess from a reference with its own tokenizer, VALUE = k
Usage: variants.py name KIND VALUE SEED RATIO | flags KIND VALUE RUN_DIR | label KIND VALUE"""
import sys

SCORES = ("excess", "ref-loss", "current-loss", "random")


def pct(value):
    return round(100 * float(value))


def run_name(kind, value, seed, ratio):
    if kind == "excess":  # the main SLM run keeps its name
        return f"slm-s{seed}" if float(value) == float(ratio) else f"slm-k{pct(value)}-s{seed}"
    if kind == "softmax":
        return f"slm-softmax-t{value}-s{seed}"
    return f"slm-{kind}-k{pct(value)}-s{seed}"


def label(kind, value):
    """(variant, k) as the table shows them."""
    if kind == "softmax":
        return f"excess, softmax weights at T {value}", "all (weighted)"
    if kind == "stream":
        return "excess, stream threshold", f"{pct(value)}%"
    if kind == "xtok":
        return "excess, reference with its own tokenizer", f"{pct(value)}%"
    return kind, f"{pct(value)}%"


def train_flags(kind, value, run):
    scores = ["--ref-scores", f"{run}/scores"]
    if kind == "softmax":
        return ["--weighting", "softmax", "--temperature", value] + scores
    if kind == "stream":
        return ["--selection-scope", "stream", "--ratio", value] + scores
    if kind == "xtok":
        return ["--ratio", value, "--ref-scores", f"{run}/scores-xtok", "--ref-tokenizer", f"{run}/tok-ref.model"]
    if kind not in SCORES:
        sys.exit(f"variants.py: unknown ablation kind '{kind}' (known: {', '.join(SCORES)}, softmax, stream, xtok)")
    # current-loss and random rank without the reference (rho refuses a reference they would ignore).
    return ["--ratio", value, "--score", kind] + ([] if kind in ("current-loss", "random") else scores)


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "name":
        print(run_name(*sys.argv[2:6]))
    elif len(sys.argv) == 4 and sys.argv[1] == "label":
        print(" ".join(label(*sys.argv[2:4])))
    elif len(sys.argv) == 5 and sys.argv[1] == "flags":
        print(" ".join(train_flags(*sys.argv[2:5])))
    else:
        sys.exit(__doc__)
