#!/usr/bin/env python3
"""compare_weights.py DIR_A DIR_B TOL: max abs difference of two model directories' F32 weights
(model.safetensors read with the standard library only). Exit 1 if above TOL or if the tensor
sets differ. Independent of rho's own safetensors reader."""
import json
import struct
import sys
from array import array


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", f"{path}: {name} is {info['dtype']}"
        b, e = info["data_offsets"]
        a = array("f")
        a.frombytes(data[8 + n + b: 8 + n + e])
        out[name] = a
    return out


a, b = load(sys.argv[1] + "/model.safetensors"), load(sys.argv[2] + "/model.safetensors")
tol = float(sys.argv[3])
if set(a) != set(b):
    print(f"tensor sets differ: {sorted(set(a) ^ set(b))}")
    sys.exit(1)
worst = max(max((abs(x - y) for x, y in zip(a[k], b[k])), default=0.0) for k in a)
print(f"max abs weight difference {worst:.3g} over {len(a)} tensors (tolerance {tol:g})")
sys.exit(0 if worst <= tol else 1)
