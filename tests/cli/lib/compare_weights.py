#!/usr/bin/env python3
"""compare_weights.py DIR_A DIR_B TOL: max abs difference of two model directories' F32 weights
(model.safetensors read with the standard library only). Exit 1 if above TOL or if the tensor
sets differ. Independent of rho's own safetensors reader."""
import sys

from safetensors_std import load


a, b = ({k: t for k, (_, t) in load(d + "/model.safetensors", ("F32",)).items()} for d in sys.argv[1:3])
tol = float(sys.argv[3])
if set(a) != set(b):
    print(f"tensor sets differ: {sorted(set(a) ^ set(b))}")
    sys.exit(1)
worst = max(max((abs(x - y) for x, y in zip(a[k], b[k])), default=0.0) for k in a)
print(f"max abs weight difference {worst:.3g} over {len(a)} tensors (tolerance {tol:g})")
sys.exit(0 if worst <= tol else 1)
