#!/usr/bin/env python3
"""The README and docs/ checked against the tree and the binary (run by the test command):
  - every relative link ([text](path), ![alt](path), path#anchor) resolves: the file exists, and
    an anchor names a heading of that file (GitHub's slugs);
  - every `rho ...` command in a ```sh block names an existing subcommand and only flags that
    `rho <subcommand> --help` lists (`rho launch ... -- <command>` is checked on both sides);
  - every docs/ page that `rho --help` or a subcommand's help points to exists.
Prints one line per problem, naming the file and line; exits 1 if there is any.

    check-docs.py RHO_BINARY FILE.md [FILE.md ...]
"""
import functools
import json
import os
import re
import shlex
import subprocess
import sys

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def slug(heading):
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces to '-'."""
    text = re.sub(r"`|\*|_(?=\w)|(?<=\w)_", "", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@functools.lru_cache(maxsize=None)
def anchors(path):
    found, counts, fence = set(), {}, False
    for line in open(path, encoding="utf-8"):
        if line.lstrip().startswith("```"):
            fence = not fence
        m = None if fence else HEADING.match(line)
        if m:
            s = slug(m.group(2))
            n = counts.get(s, 0)
            found.add(s if n == 0 else f"{s}-{n}")
            counts[s] = n + 1
    return found


def check_links(path, problems):
    base = os.path.dirname(path)
    fence = False
    for no, line in enumerate(open(path, encoding="utf-8"), 1):
        if line.lstrip().startswith("```"):
            fence = not fence
            continue
        if fence:
            continue
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            file, _, anchor = target.partition("#")
            resolved = os.path.normpath(os.path.join(base, file)) if file else path
            if not os.path.exists(resolved):
                problems.append(f"{path}:{no}: link to {target}: {resolved} does not exist")
            elif anchor and resolved.endswith(".md") and anchor not in anchors(resolved):
                problems.append(f"{path}:{no}: link to {target}: no heading '#{anchor}' in {resolved}")


@functools.lru_cache(maxsize=None)
def help_pages(rho):
    """Every `rho ... --help` page from one process (`rho --help-pages-json`): each start of rho
    pays libtorch's start-up, about 1 s of CPU (4 s under ASan)."""
    out = subprocess.run([rho, "--help-pages-json"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"check-docs: {rho} --help-pages-json failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def help_of(rho, words):
    return help_pages(rho).get(" ".join(words), "")


def subcommands(text):
    subs, on = set(), False
    for line in text.splitlines():
        if line.startswith("Subcommands:"):
            on = True
        elif on and re.match(r"^  \S", line):
            subs.add(line.split()[0])
        elif on and line and not line.startswith(" "):
            on = False
    return subs


def flags(text):
    return set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", text))


def check_command(rho, words, where, problems):
    """words: what follows `rho`."""
    path, i = [], 0
    while i < len(words) and not words[i].startswith("-"):
        subs = subcommands(help_of(rho, tuple(path)))
        if not subs:
            break  # a positional argument of the command reached
        if words[i] not in subs:
            problems.append(f"{where}: `rho {' '.join(path + [words[i]])}`: no such subcommand")
            return
        path.append(words[i])
        i += 1
    if not path and not all(w.startswith("-") for w in words):
        problems.append(f"{where}: `rho {' '.join(words[:1])}`: no subcommand")
        return
    known = flags(help_of(rho, tuple(path)))
    rest = words[i:]
    if "--" in rest:  # rho launch -n N -- <command>
        cut = rest.index("--")
        rest, inner = rest[:cut], rest[cut + 1:]
        check_command(rho, inner, where, problems)
    for w in rest:
        if w.startswith("-") and w != "-":
            name = w.split("=", 1)[0]
            if name not in known:
                problems.append(f"{where}: `rho {' '.join(path)}` has no flag {name}")


def check_commands(rho, path, problems):
    fence, lines, start = None, [], 0
    for no, line in enumerate(open(path, encoding="utf-8"), 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else stripped[3:].strip()
            continue
        if fence != "sh":
            continue
        if not lines:
            start = no
        lines.append(line.rstrip("\n"))
        if line.rstrip().endswith("\\"):
            continue
        command = " ".join(l.rstrip("\\").strip() for l in lines)
        lines = []
        command = re.sub(r"\s+#.*$", "", command)
        try:
            words = shlex.split(command)
        except ValueError as e:
            problems.append(f"{path}:{start}: cannot parse the command: {e}")
            continue
        if words and os.path.basename(words[0]) == "rho":
            check_command(rho, words[1:], f"{path}:{start}", problems)


def check_help_pages(rho, root, problems, path=()):
    text = help_of(rho, path)
    for page in sorted(set(re.findall(r"docs/[\w-]+\.md", text))):
        if not os.path.exists(os.path.join(root, page)):
            problems.append(f"`rho {' '.join(path)} --help` points to {page}, which does not exist")
    for sub in sorted(subcommands(text)):
        check_help_pages(rho, root, problems, path + (sub,))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    rho, files = sys.argv[1], sys.argv[2:]
    problems = []
    for f in files:
        check_links(f, problems)
        check_commands(rho, f, problems)
    check_help_pages(rho, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."), problems)
    for p in problems:
        print(p)
    print(f"check-docs: {len(files)} files, {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
