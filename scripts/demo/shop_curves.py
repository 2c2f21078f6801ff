#!/usr/bin/env python3
"""Accuracy-versus-tokens curves of the demo's held-out corner-shop test (standard library only).

Reads RUN/report/shop/results.json (rho eval choice: one row per checkpoint, labelled
"<run>@<step>") and each checkpoint's trainer_state.json, and writes OUT/<curve>.jsonl with one
{"tokens_trained", "tokens_seen", "step", "accuracy"} line per point (accuracy in %), for
`rho analyze plot`. Every curve starts at the base model (0 tokens): CLM, SLM and the reference
all continue from it.
"""
import argparse
import json
import os


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--seed", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rows = json.load(open(os.path.join(a.run, "report", "shop", "results.json")))["rows"]
    base = next(r for r in rows if r["label"] == "base@0")
    os.makedirs(a.out, exist_ok=True)
    for curve, run in [("clm", f"clm-s{a.seed}"), ("slm", f"slm-s{a.seed}"), ("ref", "ref")]:
        points = [{"step": 0, "tokens_trained": 0, "tokens_seen": 0, "accuracy": 100 * base["acc"]}]
        for r in rows:
            name, _, step = r["label"].partition("@")
            if name != run:
                continue
            state = json.load(open(os.path.join(r["model"], "trainer_state.json")))
            points.append({"step": int(step), "tokens_trained": state["tokens_trained"],
                           "tokens_seen": state["tokens_seen"], "accuracy": 100 * r["acc"]})
        points.sort(key=lambda p: p["step"])
        with open(os.path.join(a.out, curve + ".jsonl"), "w") as f:
            f.writelines(json.dumps(p) + "\n" for p in points)


if __name__ == "__main__":
    main()
