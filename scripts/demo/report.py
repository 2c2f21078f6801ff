#!/usr/bin/env python3
"""Writes the demo's markdown summary from the run folder (standard library only)."""
import argparse
import glob
import json
import os
import statistics
import struct


def metrics(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def val_curve(rows):
    return [(r["step"], r["val_loss"]) for r in rows if "val_loss" in r]


def steps_to_reach(curve, target):
    """First step (linearly interpolated between evaluations) at which the curve is <= target."""
    prev = None
    for step, loss in curve:
        if loss <= target:
            if prev is None:
                return float(step)
            (s0, l0) = prev
            return s0 + (step - s0) * (l0 - target) / (l0 - loss) if l0 != loss else float(step)
        prev = (step, loss)
    return None


def shard_tokens(folder):
    total = 0
    for p in glob.glob(os.path.join(folder, "*.bin")):
        with open(p, "rb") as f:
            total += struct.unpack("<Q", f.read(24)[16:24])[0]
    return total


def mean_spread(xs):
    if len(xs) == 1:
        return f"{xs[0]:.4f}"
    return f"{statistics.mean(xs):.4f} ± {statistics.stdev(xs):.4f} (n={len(xs)}, ± = sample std)"


def sweep_section(run, seed, ratio, ratios):
    """The ratio sweep (one seed) and, when run, where a longer CLM run reaches each final loss."""
    if not ratios:
        return []
    clm = val_curve(metrics(os.path.join(run, f"clm-s{seed}", "metrics.jsonl")))
    long_path = os.path.join(run, f"clm-long-s{seed}", "metrics.jsonl")
    long_curve = val_curve(metrics(long_path)) if os.path.exists(long_path) else []
    out = [f"## Ratio sweep (seed {seed})", "",
           "| k | final test loss | vs CLM | tokens trained | steps to reach CLM's final loss |"
           + (" steps the long CLM run needs to reach it |" if long_curve else ""),
           "|---|---|---|---|---|" + ("---|" if long_curve else "")]
    for r in ratios:
        name = f"slm-s{seed}" if r == ratio else f"slm-k{round(100 * float(r))}-s{seed}"
        rows = metrics(os.path.join(run, name, "metrics.jsonl"))
        curve = val_curve(rows)
        n, last = curve[-1]
        reach = steps_to_reach(curve, clm[-1][1])
        line = (f"| {100 * float(r):.0f}% | {last:.4f} | {last - clm[-1][1]:+.4f} | {rows[-1]['tokens_trained']:,} | "
                + (f"{reach:.0f} ({n / reach:.2f}x fewer)" if reach else f"not within {n}") + " |")
        if long_curve:
            lr = steps_to_reach(long_curve, last)
            line += (f" {lr:.0f} ({lr / n:.2f}x more) |" if lr else f" not within {long_curve[-1][0]} |")
        out.append(line)
    out.append(f"| CLM | {clm[-1][1]:.4f} | 0 | | |" + (" |" if long_curve else ""))
    if long_curve:
        out += ["", f"The long CLM run ({long_curve[-1][0]} steps, its own cosine schedule, the same data order "
                "and so more than one pass over the corpus) ends at "
                f"{long_curve[-1][1]:.4f}."]
    return out + [""]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--seeds", required=True)
    ap.add_argument("--ratio", required=True)
    ap.add_argument("--seconds", type=int, default=0)
    ap.add_argument("--sweep", default="", help="ratios of the sweep runs (slm-k<pct>-s<first seed>)")
    a = ap.parse_args()
    run, seeds = a.run, a.seeds.split()
    out = ["# Rho-1 demo: SLM vs CLM", ""]
    man = json.load(open(os.path.join(run, "data", "manifest.json")))
    tok = {n: shard_tokens(os.path.join(run, "shards", n)) for n in ["base", "ref", "corpus", "test"]}
    math_share = man["corpus_math_chars"] / max(1, man["corpus_chars"])
    out += ["## Data", "",
            f"- target data: {man['target_source']}; reference part {man['reference_problems']} problems "
            f"({tok['ref']:,} tokens); held-out test {man['test_problems']} problems ({tok['test']:,} tokens)",
            f"- noisy corpus: {man['corpus_docs']:,} documents, {tok['corpus']:,} tokens: SpamAssassin e-mails, "
            f"Metamath set.mm text and {man['hidden_problems']} hidden problems ({man['wrapped_in_email']} wrapped "
            f"inside e-mails); math is {100 * math_share:.1f}% of its characters",
            f"- base pretraining text (noise only): {tok['base']:,} tokens", ""]

    rows, clm_final, slm_final, speedups = [], [], [], []
    for s in seeds:
        clm = metrics(os.path.join(run, f"clm-s{s}", "metrics.jsonl"))
        slm = metrics(os.path.join(run, f"slm-s{s}", "metrics.jsonl"))
        c_curve, s_curve = val_curve(clm), val_curve(slm)
        c_last, s_last = c_curve[-1][1], s_curve[-1][1]
        clm_final.append(c_last)
        slm_final.append(s_last)
        n = c_curve[-1][0]
        reach = steps_to_reach(c_curve, s_last)
        reach_text = f"{reach:.0f}" if reach else f"not within {n} steps"
        slm_reach = steps_to_reach(s_curve, c_last)
        if slm_reach:
            speedups.append(n / slm_reach)
        rows.append(f"| {s} | {n} | {c_last:.4f} | {s_last:.4f} | {s_last - c_last:+.4f} | {reach_text} | "
                    f"{f'{slm_reach:.0f} ({n / slm_reach:.2f}x fewer)' if slm_reach else f'not within {n} steps'} | {clm[-1]['tokens_trained']:,} | {slm[-1]['tokens_trained']:,} |")
    out += ["## Held-out GSM8K test loss (nats/token) at equal steps", "",
            "| seed | steps | CLM | SLM | SLM - CLM | steps CLM needs to reach SLM's final loss | steps SLM needs to reach CLM's final loss | CLM tokens trained | SLM tokens trained (selected) |",
            "|---|---|---|---|---|---|---|---|---|"] + rows + [""]
    out += [f"- CLM final: {mean_spread(clm_final)}", f"- SLM final (k = {a.ratio}): {mean_spread(slm_final)}"]
    if speedups:
        out.append("- SLM reaches CLM's final loss in fewer steps by: "
                   + ", ".join(f"{x:.2f}x" for x in speedups))
    ref = val_curve(metrics(os.path.join(run, "ref", "metrics.jsonl")))
    base = val_curve(metrics(os.path.join(run, "base", "metrics.jsonl")))
    out += [f"- base model (before continual training): {base[-1][1]:.4f}; reference model: {ref[-1][1]:.4f}", ""]

    out += sweep_section(run, seeds[0], a.ratio, a.sweep.split())
    fs = sorted(glob.glob(os.path.join(run, "report", "fewshot-*", "summary.json")))
    if fs:
        out += ["## Few-shot accuracy (greedy, GSM8K test subset)", "", "| model | accuracy | 95% interval | problems |", "|---|---|---|---|"]
        for p in fs:
            j = json.load(open(p))
            name = os.path.basename(os.path.dirname(p)).replace("fewshot-", "")
            acc = j.get("accuracy", float("nan"))
            lo, hi = j.get("ci95", [float("nan"), float("nan")])
            out.append(f"| {name} | {100 * acc:.1f}% ({j.get('correct', '?')}/{j.get('problems', '?')}) | "
                       f"{100 * lo:.1f}-{100 * hi:.1f}% (Wilson) | {j.get('problems', '?')} |")
        out.append("")
    for d in sorted(glob.glob(os.path.join(run, "report", "dynamics-*"))):
        md = sorted(glob.glob(os.path.join(d, "*.md")))
        if md:
            out += [f"## Token loss dynamics ({os.path.basename(d).replace('dynamics-', '').upper()} checkpoints, test set)", ""]
            out += [open(md[0]).read().strip(), ""]
    if os.path.exists(os.path.join(run, "report", "val_loss.png")):
        out += ["## Plots and views", "", "![validation loss](val_loss.png)", "",
                "- selected tokens: [selected_tokens.html](selected_tokens.html)", ""]
    if a.seconds:
        out.append(f"Wall time of this invocation: {a.seconds // 60} min {a.seconds % 60} s.")
    print("\n".join(out))


if __name__ == "__main__":
    main()
