#!/usr/bin/env python3
"""Checks for tests/cli/model_families.sh, reading safetensors and config.json with the standard
library only (independent of rho's readers).

    family_check.py ids EXPECTED.safetensors OUT.json      input_ids of the fixture as a JSON matrix
    family_check.py logits EXPECTED.safetensors GOT.safetensors TOL   rho's logits against the fixture's
    family_check.py names DIR_A DIR_B                      both model.safetensors hold the same tensor names
    family_check.py config ORIGINAL/config.json COPY/config.json   the copy keeps every model setting
"""
import json
import sys

from safetensors_std import load


def rope(c):
    """(theta, scaling) whichever transformers version wrote the config."""
    if c.get("rope_parameters"):
        r = dict(c["rope_parameters"])
        return r.pop("rope_theta", c.get("rope_theta")), (None if r.get("rope_type") == "default" else r)
    return c.get("rope_theta"), c.get("rope_scaling")


def main():
    cmd = sys.argv[1]
    if cmd == "ids":
        shape, ids = load(sys.argv[2])["input_ids"]
        rows = [list(ids[r * shape[1]:(r + 1) * shape[1]]) for r in range(shape[0])]
        with open(sys.argv[3], "w") as f:
            json.dump(rows, f)
    elif cmd == "logits":
        want, got = load(sys.argv[2])["logits"], load(sys.argv[3])["logits"]
        if want[0] != got[0]:
            sys.exit(f"shape {got[0]}, expected {want[0]}")
        worst = max(abs(x - y) for x, y in zip(want[1], got[1]))
        print(f"max abs logit difference {worst:.3g} (tolerance {sys.argv[4]})")
        sys.exit(0 if worst <= float(sys.argv[4]) else 1)
    elif cmd == "names":
        a, b = (set(load(d + "/model.safetensors")) for d in sys.argv[2:4])
        if a != b:
            sys.exit(f"tensor names differ: {sorted(a ^ b)}")
    elif cmd == "config":
        a, b = (json.load(open(p)) for p in sys.argv[2:4])
        skip = {"dtype", "torch_dtype", "transformers_version", "rope_parameters", "rope_scaling", "rope_theta",
                "mlp_bias"}
        if a.get("attention_bias") is False:
            skip.add("attention_bias")  # written only when true
        diff = [k for k in a if k not in skip and a[k] is not None and a[k] != b.get(k)]
        if rope(a) != rope(b):
            diff.append(f"rope {rope(a)} vs {rope(b)}")
        if diff:
            sys.exit(f"settings differ: {diff}")


if __name__ == "__main__":
    main()
