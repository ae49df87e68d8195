#!/usr/bin/env python3
"""Reference pre-tokenizer splits for test_bpe_tokenizer, from the `regex`
module (an independent engine with \\p{L}, \\p{N}, (?i:...) and Unicode \\s).

Writes data/split_reference.txt:
  E <pattern> <input as JSON> <pieces as JSON array>     edge-case strings, in full
  P <pattern> <line> <n_pieces> <fnv1a32 hex>            each line of wiki.test.raw:
      FNV-1a 32 of the pieces' UTF-8 byte lengths joined by ' ' (the pieces
      always concatenate to the line, so their lengths fix the split)

Needs a Python with `regex` (pip/apt python3-regex; Debian's /usr/bin/python3
here lacks it, the pyenv python3 has it):
  python3 tests/tokenizer/split_reference.py <wiki.test.raw> tests/tokenizer/data/split_reference.txt
"""
import json
import sys

import regex

PATTERNS = {
    "gpt2": r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
    "llama3": r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
    "qwen2": r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
}

EDGE_CASES = [
    "Hello world",
    "I'm here, they'll see: it's 'quoted' 'S 'RE 'Ll",
    "  leading   and trailing  ",
    "tab\there\nnew\n\n  line\r\n\r\nx",
    "nbsp\u00a0x\u0085y\ufeffz\u3000w",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8",
    "emoji \U0001F600\U0001F44D\U0001F3FD done",
    "x2=3.14159 and 12345678",
    "\u00dcn\u00efc\u00f6d\u00e9 na\u00efve caf\u00e9",
    "...!!!??? \n\n",
    "  \n  foo\t\tbar",
    "$1,000,000.00!",
    "a\u0301b",
    "\u0663\u0664\u0665 \u00bd \u2167x \u00b2",
    "",
    " ",
    "\n",
    "'",
    "'s's",
]


def fnv1a32(text):
    h = 0x811C9DC5
    for c in text.encode("ascii"):
        h = ((h ^ c) * 16777619) & 0xFFFFFFFF
    return h


def main():
    wiki, output = sys.argv[1], sys.argv[2]
    out = ["# pre-tokenizer splits from the Python regex module %s (written by tests/tokenizer/split_reference.py)"
           % regex.__version__]
    for name, pattern in PATTERNS.items():
        for case in EDGE_CASES:
            pieces = regex.findall(pattern, case)
            assert "".join(pieces) == case
            out.append("E %s %s %s" % (name, json.dumps(case), json.dumps(pieces)))
    with open(wiki, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for name in ("llama3", "qwen2"):
        for i, line in enumerate(lines):
            pieces = regex.findall(PATTERNS[name], line)
            assert "".join(pieces) == line
            lengths = " ".join(str(len(p.encode("utf-8"))) for p in pieces)
            out.append("P %s %d %d %08x" % (name, i, len(pieces), fnv1a32(lengths)))
    with open(output, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
