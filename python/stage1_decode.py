#!/usr/bin/env python3
"""Reference decoder for seedforge .stage1.pt files. Needs only torch.

    python3 stage1_decode.py model.stage1.pt [--output state_dict.pt]

decode(path) returns a plain state dict {canonical HF name: float32 tensor}
that equals `stage1 decode model.stage1.pt --output x.pt` bit for bit.

The file is opened with torch.load(path, weights_only=True): it holds only
dicts, lists, strings, ints, bools and tensors (docs/FORMAT.md, "Stage-1 file").

Codecs:
  ternary  packed: uint8, five trits a byte, byte = sum_i (t_i + 1) * 3**i,
           row-major; weight = trit * scale (scale fp32 or fp16: one per
           tensor, per row, or, with scale_group G, per row and run of G
           columns, the last run shorter: [rows, ceil(cols / G)] row-major)
  levels   as ternary with values q in -L..L (L = max_level, 1..7): base
           B = 2L + 1, k = the most digits with B**k <= 256, packed byte =
           sum_{i<k} (q_i + L) * B**i, row-major; weight = q * scale
  seedlm   bits: uint8 LSB-first bitstream of blocks (seed K bits, exponent
           E bits two's complement, P mantissas Q bits two's complement);
           block = scale * U(seed) @ (q * 2**e), U(seed) from a K-bit LFSR:
           step: b = XOR of the tap bits, s = (s >> 1) | (b << (K-1)); the C*P
           states after each step fill V (C x P) row by row;
           U = (V - 2**(K-1)) / (2**(K-1) - 1) in float32.
  int8     data int8 [rows, cols] * scale[rows]
  raw      data (fp16/fp32) as is
"""
import argparse
import json
import sys

import torch


def _bits(packed, start, count, offsets):
    """Unsigned fields of `count` bits at bit `offsets + start` (LSB first)."""
    value = torch.zeros_like(offsets)
    for k in range(count):
        pos = offsets + start + k
        value |= ((packed[pos // 8].long() >> (pos % 8)) & 1) << k
    return value


def _signed(value, bits):
    return torch.where(value >= (1 << (bits - 1)), value - (1 << bits), value)


def decode_seedlm(entry, codec):
    K, C, P, Q, E = (int(codec[k]) for k in ("K", "C", "P", "Q", "E"))
    taps = [int(t) for t in codec["taps"]]
    shape = [int(s) for s in entry["shape"]]
    n = 1
    for s in shape:
        n *= s
    n_blocks = (n + C - 1) // C
    bits_per_block = K + E + P * Q
    packed = entry["bits"].to(torch.uint8)
    expected = (n_blocks * bits_per_block + 7) // 8
    if packed.numel() != expected:
        raise ValueError(f"seedlm stream has {packed.numel()} bytes, expected {expected}")
    offsets = torch.arange(n_blocks, dtype=torch.int64) * bits_per_block
    state = _bits(packed, 0, K, offsets)
    if (state == 0).any():
        raise ValueError("seedlm stream holds a zero seed")
    exponent = _signed(_bits(packed, K, E, offsets), E)
    q = torch.stack([_signed(_bits(packed, K + E + i * Q, Q, offsets), Q) for i in range(P)], dim=1)
    states = []
    for _ in range(C * P):
        parity = torch.zeros_like(state)
        for t in taps:
            parity ^= (state >> t) & 1
        state = (state >> 1) | (parity << (K - 1))
        states.append(state)
    V = torch.stack(states, dim=1).view(n_blocks, C, P)
    half = float(1 << (K - 1))
    U = ((V.to(torch.float32) - half) / (half - 1.0)).to(torch.float64)
    coeff = q.to(torch.float64) * torch.pow(2.0, exponent.to(torch.float64)).unsqueeze(1)
    block = (U * coeff.unsqueeze(1)).sum(dim=2)  # [n_blocks, C]: exact in float64
    scale = float(entry["scale"].to(torch.float32).item())
    values = (block.flatten()[:n] * scale).to(torch.float32)
    return values.view(shape)


def decode_ternary(entry, max_level=1):
    shape = [int(s) for s in entry["shape"]]
    rows, cols = shape
    n = rows * cols
    base = 2 * max_level + 1
    per_byte = 1
    while base ** (per_byte + 1) <= 256:
        per_byte += 1
    packed = entry["packed"].to(torch.int64)
    if packed.numel() != (n + per_byte - 1) // per_byte:
        raise ValueError(f"packed payload has {packed.numel()} bytes, expected {(n + per_byte - 1) // per_byte}")
    if (packed >= base ** per_byte).any():
        raise ValueError(f"packed payload holds a byte of {base ** per_byte} or more")
    trits = torch.stack([(packed // base ** i) % base - max_level for i in range(per_byte)], dim=1).flatten()[:n]
    scale = entry["scale"].to(torch.float32)
    group = int(entry.get("scale_group", 0))
    if group > 0:
        runs = (cols + group - 1) // group
        if scale.numel() != rows * runs:
            raise ValueError(f"ternary scale has {scale.numel()} values, expected {rows * runs}")
        scale = scale.view(rows, runs).repeat_interleave(group, dim=1)[:, :cols]
    elif scale.numel() == 1:
        scale = scale.view(1, 1)
    elif scale.numel() == rows:
        scale = scale.view(rows, 1)
    else:
        raise ValueError(f"ternary scale has {scale.numel()} values, expected 1 or {rows}")
    return trits.to(torch.float32).view(rows, cols) * scale


def decode_tensor(entry, codecs):
    codec = entry["codec"]
    if codec == "seedlm":
        return decode_seedlm(entry, codecs["seedlm"])
    if codec == "ternary":
        return decode_ternary(entry)
    if codec == "levels":
        max_level = int(entry["max_level"])
        if not 1 <= max_level <= 7:
            raise ValueError(f"levels max_level {max_level} is outside [1, 7]")
        return decode_ternary(entry, max_level)
    if codec == "int8":
        rows = int(entry["shape"][0])
        return entry["data"].to(torch.float32) * entry["scale"].to(torch.float32).view(rows, 1)
    if codec == "raw":
        return entry["data"].to(torch.float32).reshape([int(s) for s in entry["shape"]])
    raise ValueError(f"unknown codec {codec!r}")


def load(path):
    f = torch.load(path, map_location="cpu", weights_only=True)
    if f.get("format") != "seedforge.stage1":
        raise ValueError(f"{path}: not a seedforge Stage-1 file")
    if int(f["format_version"]) not in (1, 2, 3):
        raise ValueError(f"{path}: format_version {f['format_version']} is not supported")
    return f


def decode(path):
    f = load(path)
    return {name: decode_tensor(entry, f["codecs"]) for name, entry in f["tensors"].items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--output", help="write the state dict here with torch.save")
    args = parser.parse_args()
    f = load(args.file)
    state = {name: decode_tensor(entry, f["codecs"]) for name, entry in f["tensors"].items()}
    metrics = json.loads(f["metrics"])
    print(f"{args.file}: {len(state)} tensors, {sum(t.numel() for t in state.values())} parameters; "
          f"metrics {metrics}", file=sys.stderr)
    if args.output:
        torch.save(state, args.output)


if __name__ == "__main__":
    main()
