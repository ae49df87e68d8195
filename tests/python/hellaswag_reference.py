#!/usr/bin/env python3
"""Independent reference for seedforge's HellaSwag scorer (Debian python3-torch).

Scores HellaSwag JSONL tasks with a llama2.c model the lm-evaluation-harness
way, written from scratch in Python: its own port of llama2.c run.c's
encode() for the tokenizer.bin, the model forward of llama2c_reference.py,
context = preprocess(activity_label + ": " + ctx), continuation = the tokens
of encode(context + " " + ending) after those of encode(context), [BOS]
first, loglik = sum of log-softmax over the continuation, acc = argmax
loglik, acc_norm = argmax loglik / len(ending.encode()). One sequence at a
time (no batching, no padding), in float64 for the log-softmax sums.

Usage: hellaswag_reference.py MODEL.bin TOKENIZER.bin TASKS.jsonl N OUT.json
Writes {"tasks", "acc", "acc_norm", "logliks": [[4 floats] per task],
"predicted", "predicted_norm"}.
"""
import json
import os
import re
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama2c_reference import forward, read_model  # noqa: E402


def read_tokenizer(path):
    raw = open(path, "rb").read()
    (max_len,) = struct.unpack_from("i", raw, 0)
    offset, pieces, scores = 4, [], []
    while offset < len(raw):
        score, length = struct.unpack_from("fi", raw, offset)
        offset += 8
        pieces.append(raw[offset:offset + length])
        scores.append(score)
        offset += length
    return pieces, scores


def encode(text, pieces, scores):
    """run.c encode(): dummy prefix, code points (else bytes + 3), best-score merges."""
    lookup = {p: i for i, p in enumerate(pieces)}
    tokens = []
    if text:
        tokens.append(lookup[b" "])
    for ch in text:
        b = ch.encode("utf-8")
        if b in lookup:
            tokens.append(lookup[b])
        else:
            tokens.extend(x + 3 for x in b)
    while True:
        best, best_id, best_i = -1e10, -1, -1
        for i in range(len(tokens) - 1):
            merged = pieces[tokens[i]] + pieces[tokens[i + 1]]
            j = lookup.get(merged, -1)
            if j != -1 and scores[j] > best:
                best, best_id, best_i = scores[j], j, i
        if best_i == -1:
            return tokens
        tokens[best_i:best_i + 2] = [best_id]


def preprocess(text):
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    return text.replace("  ", " ")


def main():
    model, tok, tasks_path, n, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    cfg, params, _, _ = read_model(model)
    pieces, scores = read_tokenizer(tok)
    docs = [json.loads(line) for line in open(tasks_path) if line.strip()][:n]
    logliks, predicted, predicted_norm, acc, acc_norm = [], [], [], 0, 0
    with torch.no_grad():
        for doc in docs:
            ctx = preprocess(doc["activity_label"] + ": " + doc["ctx"])
            ctx_ids = encode(ctx, pieces, scores)
            row = []
            for ending in doc["endings"]:
                ending = preprocess(ending)
                whole = encode(ctx + " " + ending, pieces, scores)
                assert whole[:len(ctx_ids)] == ctx_ids, "context tokens are not a prefix"
                seq = [1] + whole
                logits = forward(cfg, params, torch.tensor([seq[:-1]]))[0].double()
                logp = torch.log_softmax(logits, -1)
                start = 1 + len(ctx_ids)
                row.append(sum(logp[p - 1, seq[p]].item() for p in range(start, len(seq))))
            lengths = [len(preprocess(e).encode("utf-8")) for e in doc["endings"]]
            pred = max(range(4), key=lambda i: (row[i], -i))
            pred_norm = max(range(4), key=lambda i: (row[i] / lengths[i], -i))
            logliks.append(row)
            predicted.append(pred)
            predicted_norm.append(pred_norm)
            acc += pred == int(doc["label"])
            acc_norm += pred_norm == int(doc["label"])
    json.dump({"tasks": len(docs), "acc": acc / len(docs), "acc_norm": acc_norm / len(docs), "logliks": logliks,
               "predicted": predicted, "predicted_norm": predicted_norm}, open(out, "w"))


if __name__ == "__main__":
    main()
