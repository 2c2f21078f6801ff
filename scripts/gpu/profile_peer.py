#!/usr/bin/env python3
"""Profiles the PyTorch peer's training step (../shared/bench/gpu_peer.py: its own model, batch
and step function, run from its file) under torch.profiler, and prints the table `rho bench
--profile` prints for rho: the GPU's busy and idle time over the profiled steps, which attention
kernels ran, and the 25 most expensive kernels with their share of the wall time.
Usage: python3 scripts/gpu/profile_peer.py PEER.py BATCH OUT_DIR [STEPS]
Writes OUT_DIR/peer-<mode>.trace.json (torch.profiler's Chrome trace) and OUT_DIR/peer-<mode>.txt."""
import json, os, sys, time

peer, batch, out = sys.argv[1], sys.argv[2], sys.argv[3]
steps = int(sys.argv[4]) if len(sys.argv) > 4 else 3
os.makedirs(out, exist_ok=True)

# The peer's definitions (model, optimizer, batch, step), without its timing loop.
source = open(peer).read()
cut = source.index("\nfor mode in ")
sys.argv = [peer, batch]
scope = {"__name__": "peer"}
exec(compile(source[:cut], peer, "exec"), scope)
torch, step = scope["torch"], scope["step"]
cuda = torch.cuda.is_available()
sync = torch.cuda.synchronize if cuda else (lambda: None)  # a CPU run: only to check this script


def attention_backend(names):
    kinds = []
    for n in names:
        kind = ("flash" if "flash" in n else
                "cuDNN" if "cudnn" in n and any(p in n for p in ("attn", "sdpa", "fmha", "mha")) else
                "memory-efficient" if any(p in n for p in ("efficient_attention", "fmha_cutlass", "mem_eff")) else None)
        if kind and kind not in kinds:
            kinds.append(kind)
    return ", ".join(kinds) if kinds else "none of flash, cuDNN or memory-efficient among the kernels (the plain softmax path)"


def table(kernels, wall_ms, steps, top=25):
    totals = {}
    for name, _, dur in kernels:
        t = totals.setdefault(name, [0.0, 0])
        t[0] += dur
        t[1] += 1
    busy, hi, lo = 0.0, -1.0, 0.0
    for _, start, dur in sorted(kernels, key=lambda k: k[1]):
        if start > hi:
            busy += max(0.0, hi - lo)
            lo, hi = start, start + dur
        else:
            hi = max(hi, start + dur)
    busy = (busy + max(0.0, hi - lo)) / 1e3  # us -> ms
    lines = [f"device kernels: {len(kernels)} over {steps} step(s), {wall_ms:.1f} ms wall; GPU busy {busy:.1f} ms "
             f"({100 * busy / wall_ms:.1f}%), idle between kernels {wall_ms - busy:.1f} ms ({100 * (wall_ms - busy) / wall_ms:.1f}%)",
             "attention kernels: " + attention_backend(totals),
             f"the {min(top, len(totals))} most expensive kernels:",
             "   total ms   ms/step   share   count  name"]
    for name, (us, count) in sorted(totals.items(), key=lambda kv: -kv[1][0])[:top]:
        ms = us / 1e3
        short = name if len(name) <= 110 else name[:107] + "..."
        lines.append(f"{ms:11.2f} {ms / steps:9.2f} {100 * ms / wall_ms:6.1f}% {count:7d}  {short}")
    return "\n".join(lines) + "\n"


for mode in ["clm", "slm-offline", "slm-online"]:
    for _ in range(3):
        step(mode)
    sync()
    activities = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if cuda else [])
    with torch.profiler.profile(activities=activities) as prof:
        t = time.time()
        for _ in range(steps):
            step(mode)
        sync()
        wall_ms = (time.time() - t) * 1e3
    trace = f"{out}/peer-{mode}.trace.json"
    prof.export_chrome_trace(trace)
    events = json.load(open(trace))
    events = events["traceEvents"] if isinstance(events, dict) else events
    kernels = [(e["name"], float(e["ts"]), float(e.get("dur", 0))) for e in events
               if e.get("ph") == "X" and e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")]
    text = table(kernels, wall_ms, steps) + f"trace: {trace}\n"
    open(f"{out}/peer-{mode}.txt", "w").write(text)
    print(f"\nprofile of the peer's {mode} (B={batch}):\n{text}", flush=True)
