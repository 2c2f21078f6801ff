"""A safetensors reader with the standard library only, for the CLI tests' checks (independent of
rho's own reader). load(path, dtypes) -> {name: (shape, array)}; a tensor of another dtype is an
AssertionError naming the file and the tensor."""
import json
import struct
from array import array

ARRAY_CODES = {"F32": "f", "I64": "q"}


def load(path, dtypes=("F32", "I64")):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] in dtypes, f"{path}: {name} is {info['dtype']}, expected one of {dtypes}"
        b, e = info["data_offsets"]
        a = array(ARRAY_CODES[info["dtype"]])
        a.frombytes(data[8 + n + b: 8 + n + e])
        out[name] = (info["shape"], a)
    return out
