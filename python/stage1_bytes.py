#!/usr/bin/env python3
"""Where the bytes of a .stage1.pt go: payload by codec, scales, vectors, the
tokenizer, the pickle (data.pkl) and the zip structure. Standard library only.

    python3 python/stage1_bytes.py model.stage1.pt [--json]

Every byte of the file is in exactly one row: the rows sum to the file size
(the zip structure row is what the others leave). Payloads and scales are
views of a few shared storages (one zip record per dtype and codec,
docs/FORMAT.md), and a record may be deflated: a row's bytes in the file are
its stored bytes times its record's compressed / uncompressed size. The
"stored" figures are the bytes before deflate, what the report's tensor rows
count.
"""
import collections
import json
import os
import pickle
import sys
import zipfile

# Bytes per element of the storage classes a .stage1.pt can name.
ELEMENT_BYTES = {
    "FloatStorage": 4, "DoubleStorage": 8, "HalfStorage": 2, "BFloat16Storage": 2,
    "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1,
    "ByteStorage": 1, "BoolStorage": 1,
}


class TensorRef:
    """A tensor as data.pkl names it: which storage record, how many bytes."""

    def __init__(self, storage, size):
        storage_class, self.key = storage
        numel = 1
        for s in size:
            numel *= s
        self.nbytes = numel * ELEMENT_BYTES[storage_class]


def rebuild_tensor(storage, offset, size, stride, *rest):
    return TensorRef(storage, size)


class RecordUnpickler(pickle.Unpickler):
    """Reads data.pkl without torch: tensors become TensorRefs (storage key,
    bytes); anything but the few globals a .stage1.pt uses is refused."""

    def find_class(self, module, name):
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return rebuild_tensor
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch" and name in ELEMENT_BYTES:
            return name
        raise pickle.UnpicklingError(f"global {module}.{name} is not expected in a .stage1.pt")

    def persistent_load(self, pid):  # ('storage', class, key, location, numel)
        return (pid[1], pid[2])


def byte_table(path):
    size = os.path.getsize(path)
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        pkl_info = next(i for i in infos if i.filename.endswith("/data.pkl"))
        folder = pkl_info.filename[: -len("data.pkl")]
        f = RecordUnpickler(z.open(pkl_info)).load()
        records = {i.filename[len(folder) + len("data/"):]: i for i in infos
                   if i.filename.startswith(folder + "data/")}

    stored, in_file = {}, {}

    def add(row, t):
        r = records[t.key]
        stored[row] = stored.get(row, 0) + t.nbytes
        in_file[row] = in_file.get(row, 0.0) + t.nbytes * (r.compress_size / r.file_size if r.file_size else 0.0)

    counts = {}
    for name, e in f["tensors"].items():
        codec = e["codec"]
        counts[codec] = counts.get(codec, 0) + 1
        if codec == "ternary":
            add("ternary trits (5 a byte)", e["packed"])
            add("ternary scales", e["scale"])
        elif codec == "levels":
            add("wider projections' levels (5 to 15 levels)", e["packed"])
            add("wider projections' scales", e["scale"])
        elif codec == "seedlm":
            add("SeedLM seeds, exponents, coefficients", e["bits"])
            add("SeedLM scales", e["scale"])
        elif codec == "int8":
            add("int8 matrices", e["data"])
            add("int8 row scales", e["scale"])
        elif codec == "raw":
            add("raw tensors (norm weights, ...)" if len(e["shape"]) == 1 else "raw matrices", e["data"])
        else:
            raise ValueError(f"{path}: tensor {name} has unknown codec {codec!r}")
    add("tokenizer", f["model"]["tokenizer"])
    for v in f["model"]["config"].values():
        if isinstance(v, TensorRef):
            add("config floats (float64 tensors)", v)

    # Whole bytes per row; rounding can leave a row or two a byte off, which
    # the zip-structure row absorbs, so the rows still sum to the file size.
    rows = {row: int(round(n)) for row, n in in_file.items()}
    pkl_row = "data.pkl (keys, strings, one record per tensor view)"
    rows[pkl_row] = pkl_info.compress_size
    stored[pkl_row] = pkl_info.file_size
    deflated = sum(1 for i in infos if i.compress_type == zipfile.ZIP_DEFLATED)
    rows[f"zip structure ({len(infos)} entries, {deflated} deflated: headers, directory, alignment, version records)"] = \
        size - sum(rows.values())
    return {"file": path, "bytes": size, "rows": rows, "stored": stored, "tensors_by_codec": counts}


def main():
    args = [a for a in sys.argv[1:] if a != "--json"]
    if len(args) != 1:
        sys.exit("usage: stage1_bytes.py MODEL.stage1.pt [--json]")
    table = byte_table(args[0])
    if "--json" in sys.argv:
        print(json.dumps(table))
        return
    print(f"{table['file']}: {table['bytes']:,} bytes; tensors by codec {table['tensors_by_codec']}")
    print("| part | bytes in the file | stored (before deflate) | share |\n|---|---:|---:|---:|")
    for row, n in sorted(table["rows"].items(), key=lambda kv: -kv[1]):
        s = table["stored"].get(row)
        print(f"| {row} | {n:,} | {'' if s is None else f'{s:,}'} | {100.0 * n / table['bytes']:.1f} % |")


if __name__ == "__main__":
    main()
