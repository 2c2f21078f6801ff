#!/usr/bin/env python3
"""Writes tests/fixtures/py_random_sample.json: what Python's own random.Random draws, for the
C++ port in src/common/py_random.h, and the few-shot examples lm-evaluation-harness's default
sampler picks with it (random.Random(1234).sample(docs, n), drawn item after item from one
stream), for eval/choice's fewshot_picks.

Usage: python3 scripts/harness/py_random_fixture.py > tests/fixtures/py_random_sample.json
"""
import json
import random
import sys

cases = []
# (population size, k, draws from one stream): small pools (partial shuffle) and large ones
# (rejection from a set), k around the 5/6 boundary where CPython's setsize changes.
for n, k, draws in [(1, 1, 3), (5, 5, 2), (10, 3, 6), (21, 5, 4), (22, 5, 4), (100, 5, 6),
                    (85, 6, 3), (86, 6, 3), (1000, 6, 4), (1000, 25, 2), (1319, 9, 5),
                    (70000, 10, 3)]:
    rnd = random.Random(1234)
    cases.append({"seed": 1234, "n": n, "k": k,
                  "draws": [rnd.sample(range(n), k) for _ in range(draws)]})
for seed in [0, 1, 42, 2**32 + 7]:
    rnd = random.Random(seed)
    cases.append({"seed": seed, "n": 50, "k": 4, "draws": [rnd.sample(range(50), 4) for _ in range(3)]})


def lm_eval_picks(items, shots, k, same_split):
    """lm-eval's ContextSampler.get_context draw (api/samplers.py), restated: one
    random.Random(1234) stream, item after item; k + 1 drawn from the evaluated split itself and
    the item dropped by record equality, then the first k kept."""
    rnd = random.Random(1234)
    picks = []
    for doc in items:
        fewshotex = rnd.sample(shots, k + 1 if same_split else k)
        picks.append([shots.index(x) for x in [x for x in fewshotex if x != doc][:k]])
    return picks


draws = []
for n_items, n_shots, k, same in [(12, 12, 3, True), (30, 30, 5, True), (7, 40, 5, False),
                                  (5, 2000, 10, False), (25, 25, 1, True)]:
    shots = [{"q": "item %d" % j} for j in range(n_shots)]
    items = shots[:n_items] if same else [{"q": "test %d" % j} for j in range(n_items)]
    draws.append({"items": n_items, "shots": n_shots, "k": k, "same_split": same,
                  "picks": lm_eval_picks(items, shots, k, same)})

rnd = random.Random(1234)
bits = {"seed": 1234, "getrandbits": [[k, rnd.getrandbits(k)] for k in [32, 1, 7, 16, 31, 32, 3]]}
# One case a line, so a diff shows which draw changed.
out = ['{"python": %s, "bits": %s, "samples": [' % (json.dumps(sys.version.split()[0]), json.dumps(bits))]
out.append(",\n".join(json.dumps(c) for c in cases))
out.append('], "lm_eval_draws": [')
out.append(",\n".join(json.dumps(d) for d in draws))
out.append("]}")
print("\n".join(out))
