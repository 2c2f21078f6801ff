#!/usr/bin/env python3
"""A seeded, text-like JSONL corpus of a given size for benchmarks (scripts/bench-corpus.sh).

Documents look like OpenWebMath's web pages: a title, paragraphs of English from a word-bigram
chain, inline and display LaTeX, numbers, now and then a list or a code line; lengths log-normal
around 6 KB (OpenWebMath: 14.7B tokens in 6.3M documents, about 8 KB each). The English comes from
the licence texts every Debian system ships (/usr/share/common-licenses, package base-files), so
the same seed gives the same bytes on any Debian machine. One word in seven is drawn instead from
a Zipf-distributed lexicon of 80,000 made-up words (names, jargon): web text's long tail, without
which there is too little variety to train a 32,000-piece tokenizer.

Usage: make_jsonl.py --mb 2000 --seed 1 --out corpus.jsonl
"""
import argparse, glob, json, math, os, random, sys

p = argparse.ArgumentParser()
p.add_argument("--mb", type=float, required=True, help="size in MB (10^6 bytes), stops after the document that crosses it")
p.add_argument("--seed", type=int, default=1)
p.add_argument("--out", required=True)
a = p.parse_args()

words = []
for path in sorted(glob.glob("/usr/share/common-licenses/*")):
    if os.path.isfile(path) and not os.path.islink(path):
        words += open(path, encoding="utf-8", errors="replace").read().split()
if len(words) < 10000:
    sys.exit("make_jsonl.py: /usr/share/common-licenses has too little text (Debian's base-files)")
succ = {}
for w, n in zip(words, words[1:]):
    succ.setdefault(w, []).append(n)
starts = [w for w in succ if w[:1].isupper()]

r = random.Random(a.seed)
rand = r.random
import bisect, itertools
SYL = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"] + ["th", "ch", "qu", "st", "er", "an", "on"]
lexicon = sorted({"".join(r.choice(SYL) for _ in range(r.randrange(2, 5))) for _ in range(90000)})[:80000]
r.shuffle(lexicon)
zipf_cum = list(itertools.accumulate(1.0 / (i + 1) ** 1.05 for i in range(len(lexicon))))


def rare_word():
    w = lexicon[bisect.bisect(zipf_cum, rand() * zipf_cum[-1])]
    return w.capitalize() if rand() < 0.3 else w
VARS = "xyznkmabcpqt"
FUNCS = ["\\sin", "\\cos", "\\log", "\\exp", "f", "g"]


def expr(depth=0):
    k = r.randrange(7 if depth < 2 else 3)
    v = r.choice(VARS)
    if k == 0: return v
    if k == 1: return str(r.randrange(1, 100))
    if k == 2: return f"{v}^{{{r.randrange(2, 5)}}}"
    if k == 3: return f"\\frac{{{expr(depth + 1)}}}{{{expr(depth + 1)}}}"
    if k == 4: return f"{r.choice(FUNCS)}({expr(depth + 1)})"
    if k == 5: return f"\\sum_{{{v}=1}}^{{n}} {expr(depth + 1)}"
    return f"{expr(depth + 1)} {r.choice('+-=<')} {expr(depth + 1)}"


def sentence():
    w = r.choice(starts)
    out = [w]
    for _ in range(r.randrange(8, 28)):
        nxt = succ.get(w)
        w = nxt[int(rand() * len(nxt))] if nxt else r.choice(starts)
        out.append(rare_word() if rand() < 0.14 else w)
        if rand() < 0.04:
            out.append(f"${expr()}$")
        elif rand() < 0.02:
            out.append(str(r.randrange(0, 10 ** r.randrange(1, 6))))
    s = " ".join(out)
    return s if s[-1] in ".;:" else s + "."


def document():
    target = min(200_000, int(r.lognormvariate(math.log(4500), 0.8)))
    parts = [" ".join(sentence().split()[:8]).rstrip(".") + "\n"]
    size = len(parts[0])
    while size < target:
        x = rand()
        if x < 0.12:
            block = f"$$ {expr()} $$"
        elif x < 0.16:
            block = "\n".join(f"{i + 1}. {sentence()}" for i in range(r.randrange(2, 5)))
        elif x < 0.18:
            block = f"    {r.choice(VARS)} = {expr()}  # {sentence()}"
        else:
            block = " ".join(sentence() for _ in range(r.randrange(2, 7)))
        parts.append(block)
        size += len(block) + 2
    return "\n\n".join(parts)


limit = int(a.mb * 1e6)
written = docs = 0
with open(a.out, "w", encoding="utf-8") as f:
    while written < limit:
        line = json.dumps({"text": document(), "url": f"https://example.org/{docs}"}, ensure_ascii=False) + "\n"
        f.write(line)
        written += len(line.encode("utf-8"))
        docs += 1
print(f"make_jsonl.py: {docs} documents, {written / 1e6:.1f} MB in {a.out}", file=sys.stderr)
