#!/usr/bin/env python3
"""Where the bytes of a .stage1.pt go: payload by codec, scales, vectors, the
tokenizer, the pickle (data.pkl) and the zip structure. Needs only torch.

    python3 python/stage1_bytes.py model.stage1.pt [--json]

Every byte of the file is in exactly one row: the rows sum to the file size
(the zip structure row is what the others leave). Payload rows count the
tensors' own bytes (their storages are shared per dtype, docs/FORMAT.md); the
zip stores entries uncompressed, so each storage entry is its bytes plus
alignment padding, which goes to the zip-structure row.
"""
import json
import os
import sys
import zipfile

import torch


def tensor_bytes(t):
    return t.numel() * t.element_size()


def byte_table(path):
    f = torch.load(path, weights_only=True, map_location="cpu")
    rows = {}

    def add(row, n):
        rows[row] = rows.get(row, 0) + n

    counts = {}
    for name, e in f["tensors"].items():
        codec = e["codec"]
        counts[codec] = counts.get(codec, 0) + 1
        if codec == "ternary":
            add("ternary trits (5 a byte)", tensor_bytes(e["packed"]))
            add("ternary scales", tensor_bytes(e["scale"]))
        elif codec == "levels":
            add("wider projections' levels (5 to 15 levels)", tensor_bytes(e["packed"]))
            add("wider projections' scales", tensor_bytes(e["scale"]))
        elif codec == "seedlm":
            add("SeedLM seeds, exponents, coefficients", tensor_bytes(e["bits"]))
            add("SeedLM scales", tensor_bytes(e["scale"]))
        elif codec == "int8":
            add("int8 matrices", tensor_bytes(e["data"]))
            add("int8 row scales", tensor_bytes(e["scale"]))
        elif codec == "raw":
            add("raw tensors (norm weights, ...)" if len(e["shape"]) == 1 else "raw matrices", tensor_bytes(e["data"]))
        else:
            raise ValueError(f"{path}: tensor {name} has unknown codec {codec!r}")
    add("tokenizer", tensor_bytes(f["model"]["tokenizer"]))
    config_tensors = sum(tensor_bytes(v) for v in f["model"]["config"].values() if torch.is_tensor(v))
    if config_tensors:
        add("config floats (float64 tensors)", config_tensors)

    size = os.path.getsize(path)
    with zipfile.ZipFile(path) as z:
        pickle_bytes = sum(i.file_size for i in z.infolist() if i.filename.endswith("/data.pkl"))
        entries = len(z.infolist())
    add("data.pkl (keys, strings, one record per tensor view)", pickle_bytes)
    add(f"zip structure ({entries} entries: headers, directory, alignment, version records)", size - sum(rows.values()))
    return {"file": path, "bytes": size, "rows": rows, "tensors_by_codec": counts}


def main():
    args = [a for a in sys.argv[1:] if a != "--json"]
    if len(args) != 1:
        sys.exit("usage: stage1_bytes.py MODEL.stage1.pt [--json]")
    table = byte_table(args[0])
    if "--json" in sys.argv:
        print(json.dumps(table))
        return
    print(f"{table['file']}: {table['bytes']:,} bytes; tensors by codec {table['tensors_by_codec']}")
    print("| part | bytes | share |\n|---|---:|---:|")
    for row, n in sorted(table["rows"].items(), key=lambda kv: -kv[1]):
        print(f"| {row} | {n:,} | {100.0 * n / table['bytes']:.1f} % |")


if __name__ == "__main__":
    main()
