#!/usr/bin/env python3
"""Writes the demo's markdown summary from the run folder (standard library only)."""
import argparse
import glob
import json
import os
import statistics
import struct

import variants as variants_lib  # scripts/demo/variants.py: the ablation's names


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


def choice_rows(path):
    """rho eval choice's rows by label, each with its per-item correctness (from its records)."""
    j = json.load(open(path))
    rows = {}
    for r in j["rows"]:
        recs = metrics(os.path.join(os.path.dirname(path), r["records"]))
        r["hits"] = [int(x["pred"] == x["gold"]) for x in recs]
        rows[r["label"]] = r
    return rows


def paired_diff(a, b):
    """Mean of a - b over the same items, with a 95% normal interval (paired)."""
    d = [x - y for x, y in zip(a, b)]
    n = len(d)
    m = sum(d) / n
    sd = statistics.stdev(d) if n > 1 else 0.0
    h = 1.959964 * sd / n ** 0.5
    return m, m - h, m + h


def pct_ci(r):
    lo, hi = r["acc_ci95"]
    return f"{100 * r['acc']:.1f}% ({100 * lo:.1f}-{100 * hi:.1f})"


def shop_section(run, seeds, ratio):
    """Held-out corner-shop accuracy: base, reference, CLM and SLM per seed at equal steps."""
    first = os.path.join(run, "report", "shop", "results.json")
    if not os.path.exists(first):
        return []
    rows = choice_rows(first)
    for s in seeds[1:]:
        p = os.path.join(run, "report", f"shop-s{s}", "results.json")
        if os.path.exists(p):
            rows.update(choice_rows(p))
    def final(name):
        steps = [int(l.split("@")[1]) for l in rows if l.split("@")[0] == name]
        return rows[f"{name}@{max(steps)}"] if steps else None
    base, ref = rows["base@0"], final("ref")
    n = base["items"]
    out = ["## Held-out accuracy: corner-shop word problems hidden in the corpus", "",
           f"{n} new problems (none of them in the reference data or the corpus), each scored as "
           "multiple choice (rho eval choice: the highest log-likelihood among the worked answer and "
           "the two that use the other operations; chance 33%). 95% Wilson intervals in brackets; "
           "SLM - CLM is paired over the same problems (normal interval).", "",
           f"- base model: {pct_ci(base)}; reference model: {pct_ci(ref)}", "",
           "| seed | steps | CLM | SLM (k = " + str(ratio) + ") | SLM - CLM (points) |", "|---|---|---|---|---|"]
    clm_acc, slm_acc = [], []
    for s in seeds:
        c, m = final(f"clm-s{s}"), final(f"slm-s{s}")
        if not c or not m:
            continue
        d, lo, hi = paired_diff(m["hits"], c["hits"])
        clm_acc.append(100 * c["acc"])
        slm_acc.append(100 * m["acc"])
        steps = c["label"].split("@")[1]
        out.append(f"| {s} | {steps} | {pct_ci(c)} | {pct_ci(m)} | {100 * d:+.1f} ({100 * lo:+.1f} to {100 * hi:+.1f}) |")
    if len(clm_acc) > 1:
        out.append(f"| mean ± sample std | | {statistics.mean(clm_acc):.1f} ± {statistics.stdev(clm_acc):.1f} | "
                   f"{statistics.mean(slm_acc):.1f} ± {statistics.stdev(slm_acc):.1f} | "
                   f"{statistics.mean(slm_acc) - statistics.mean(clm_acc):+.1f} |")
    # By kind of problem, first seed (the kinds are in the test file).
    test = os.path.join(run, "data", "shop_test.jsonl")
    kinds = [json.loads(l)["kind"] for l in open(test)][:n] if os.path.exists(test) else []
    if kinds:
        models = [("base", base), ("reference", ref), ("CLM", final(f"clm-s{seeds[0]}")), ("SLM", final(f"slm-s{seeds[0]}"))]
        names = sorted(set(kinds))
        out += ["", f"By kind of problem (seed {seeds[0]}, % correct):", "",
                "| model | " + " | ".join(f"{k} (n={kinds.count(k)})" for k in names) + " |",
                "|---|" + "---|" * len(names)]
        for label, r in models:
            if r:
                cells = [100 * sum(h for h, k in zip(r["hits"], kinds) if k == kind) / kinds.count(kind) for kind in names]
                out.append(f"| {label} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")
    if os.path.exists(os.path.join(run, "report", "shop_accuracy.png")):
        out += ["", "![held-out corner-shop accuracy against tokens trained](shop_accuracy.png)"]
    return out + [""]


T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def t_interval(xs):
    """Mean and 95% t interval over seeds (None without at least two)."""
    m = statistics.mean(xs)
    if len(xs) < 2:
        return m, None
    h = T95.get(len(xs) - 1, 1.96) * statistics.stdev(xs) / len(xs) ** 0.5
    return m, (m - h, m + h)


def final_val(run, name):
    rows = metrics(os.path.join(run, name, "metrics.jsonl"))
    return val_curve(rows)[-1][1], rows[-1]["tokens_trained"]


def ablation_section(run, seeds, ratio, spec):
    """Every variant side by side: held-out loss and accuracy over the seeds, paired differences
    from CLM and from SLM's batch top-k by excess loss at the main ratio."""
    if not spec:
        return []
    acc_path = os.path.join(run, "report", "ablation-acc", "results.json")
    acc = choice_rows(acc_path) if os.path.exists(acc_path) else {}
    variants = [("CLM", "100%", lambda s: f"clm-s{s}")]
    for entry in spec.split():
        kind, values = entry.split(":")
        for v in values.split(","):
            variants.append((*variants_lib.label(kind, v), lambda s, kind=kind, v=v: variants_lib.run_name(kind, v, s, ratio)))
    clm_loss = {s: final_val(run, f"clm-s{s}")[0] for s in seeds}
    slm_loss = {s: final_val(run, f"slm-s{s}")[0] for s in seeds}
    slm_label = f"excess at {100 * float(ratio):.0f}%"
    out = ["## Ablation: SLM variants side by side", "",
           f"Held-out GSM8K test loss (nats/token) after the same steps from the same base, data order and seeds "
           f"({', '.join(seeds)}); mean over seeds with a 95% t interval; the differences are paired by seed, from CLM "
           f"and from SLM's batch top-k ({slm_label}). "
           "Accuracy: the held-out corner-shop test (multiple choice, chance 33%), mean over seeds.", "",
           f"| variant | k | test loss | 95% interval | minus CLM (95% interval) | minus {slm_label} (95% interval) | per seed | tokens trained | shop acc. |",
           "|---|---|---|---|---|---|---|---|---|"]
    summary = []
    def diff_text(ds):
        d, ci = t_interval(ds)
        return (f"{d:+.4f} ({ci[0]:+.4f} to {ci[1]:+.4f})" if ci else f"{d:+.4f}"), d, ci
    for label, k, fn in variants:
        losses, accs, trained = [], [], 0
        for s in seeds:
            loss, trained = final_val(run, fn(s))
            losses.append(loss)
            if fn(s) in acc:
                accs.append(100 * acc[fn(s)]["acc"])
        m, ci = t_interval(losses)
        ci_text = f"{ci[0]:.4f} to {ci[1]:.4f}" if ci else "(one seed)"
        c_text, d, dci = diff_text([l - clm_loss[s] for l, s in zip(losses, seeds)])
        s_text, _, sci = diff_text([l - slm_loss[s] for l, s in zip(losses, seeds)])
        is_slm = fn(seeds[0]) == f"slm-s{seeds[0]}"
        acc_text = f"{statistics.mean(accs):.1f}%" if accs else ""
        out.append(f"| {label} | {k} | {m:.4f} | {ci_text} | {'' if label == 'CLM' else c_text} | "
                   f"{'' if is_slm else s_text} | {' / '.join(f'{x:.4f}' for x in losses)} | {trained:,} | {acc_text} |")
        name = label if label == "CLM" or not k[0].isdigit() else f"{label} at {k}"
        summary.append((m, name, dci if label != "CLM" else None, sci if not is_slm and label != "CLM" else None))
    best = min(summary)
    better = [n for m, n, ci, sci in summary if ci and ci[1] < 0]
    worse = [n for m, n, ci, sci in summary if ci and ci[0] > 0]
    beat_slm = [n for m, n, ci, sci in summary if sci and sci[1] < 0]
    if len(seeds) < 2:
        verdict = ("One seed, so no intervals: read each difference against the seed-to-seed spread of the "
                   "CLM and SLM runs above.")
    else:
        verdict = ((f"Below CLM with the paired 95% interval excluding zero: {', '.join(better)}. " if better
                    else "No variant is below CLM with its paired interval excluding zero. ")
                   + (f"Above CLM (worse) the same way: {', '.join(worse)}. " if worse else "No variant is above CLM the same way. ")
                   + (f"Below {slm_label} the same way: {', '.join(beat_slm)}." if beat_slm
                      else f"No variant is below {slm_label} with its paired interval excluding zero."))
    out += ["", f"What the table says: the lowest held-out loss is {best[1]} ({best[0]:.4f}). " + verdict,
            "", "![held-out loss against tokens trained, one line per variant (first seed)](ablation_loss.png)", ""]
    if os.path.exists(os.path.join(run, "report", "stream_kept_share.png")):
        out += [stream_share_text(run, seeds, ratio, spec),
                "", "![share of tokens kept per step by the stream threshold (first seed)](stream_kept_share.png)", ""]
    return out


def stream_share_text(run, seeds, ratio, spec):
    """How far the stream threshold's kept share strays from k, per step, over the seeds."""
    lines = []
    for entry in spec.split():
        kind, values = entry.split(":")
        if kind != "stream":
            continue
        for v in values.split(","):
            shares = [r["kept_share"] for s in seeds
                      for r in metrics(os.path.join(run, variants_lib.run_name(kind, v, s, ratio), "metrics.jsonl"))
                      if "kept_share" in r]
            if shares:
                lines.append(f"Stream threshold at k = {100 * float(v):.0f}%: share kept per step over {len(shares)} steps "
                             f"(all seeds) mean {100 * statistics.mean(shares):.1f}%, 5th-95th percentile "
                             f"{100 * sorted(shares)[len(shares) // 20]:.1f}%-{100 * sorted(shares)[len(shares) * 19 // 20]:.1f}%.")
    return " ".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--seeds", required=True)
    ap.add_argument("--ratio", required=True)
    ap.add_argument("--seconds", type=int, default=0)
    ap.add_argument("--sweep", default="", help="ratios of the sweep runs (slm-k<pct>-s<first seed>)")
    ap.add_argument("--ablation", default="", help="SCORE:K,K,... entries of the score-function ablation")
    ap.add_argument("--ablation-seeds", default="", help="the ablation's seeds (default: --seeds)")
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
    if "shop_hidden_problems" in man:
        out[-1:-1] = [f"- corner-shop word problems (which operation, from the wording): {man['shop_reference_problems']:,} in the "
                      f"reference data, {man['shop_hidden_problems']:,} hidden in the corpus ({man['shop_wrapped_in_email']} "
                      f"of them inside its e-mails; {100 * man['corpus_shop_chars'] / max(1, man['corpus_chars']):.1f}% of "
                      f"its characters), {man['shop_test_items']} new ones held out as choice items"]

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
    out += shop_section(run, seeds, a.ratio)
    out += ablation_section(run, a.ablation_seeds.split() or seeds, a.ratio, a.ablation)
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
