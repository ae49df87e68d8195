#!/usr/bin/python3
"""Independent Python readers of the codec formats (docs/FORMAT.md), for
tests/codec/test_codec_python.cpp. Written from the format description, not
from the C++ code.

usage: codec_reference.py DIR

SeedLM: reads DIR/seedlm.txt ("K C P Q E n scale_hex taps..."), DIR/seedlm.bin (the
stream) and DIR/decoded.f32 (the C++ decoder's output); decodes the stream with
numpy (LFSR, fp32 basis, float64 sums) and writes DIR/seedlm_result.txt:
"blocks mismatches max_abs_diff".

Ternary: reads DIR/w.f32 with DIR/ternary.txt ("rows cols eps group"), computes
with torch the BitLinear weight quantization (gamma = mean |W|, per row, per
tensor and per row and run of `group` columns, the last run shorter; trits =
(W / (gamma + eps)).round().clamp(-1, 1)) and writes gamma_MODE.f32 and
trits_MODE.i8 for MODE row, tensor and group, and the base-3 packing of
trits_row, packed_row.u8.
"""
import os
import struct
import sys

import numpy as np
import torch


def lfsr_states(seed, K, taps, count):
    s = seed
    out = []
    for _ in range(count):
        b = 0
        for t in taps:
            b ^= (s >> t) & 1
        s = (s >> 1) | (b << (K - 1))
        out.append(s)
    return out


class Bits:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n, signed=False):
        v = 0
        for i in range(n):
            byte = self.data[(self.pos + i) // 8]
            v |= ((byte >> ((self.pos + i) % 8)) & 1) << i
        self.pos += n
        if signed and v >> (n - 1):
            v -= 1 << n
        return v


def check_seedlm(d):
    fields = open(os.path.join(d, "seedlm.txt")).read().split()
    K, C, P, Q, E, n = (int(x) for x in fields[:6])
    scale = struct.unpack("<f", bytes.fromhex(fields[6]))[0]
    taps = [int(x) for x in fields[7:]]
    stream = open(os.path.join(d, "seedlm.bin"), "rb").read()
    got = np.fromfile(os.path.join(d, "decoded.f32"), dtype="<f4")
    n_blocks = (n + C - 1) // C
    assert len(stream) == (n_blocks * (K + E + P * Q) + 7) // 8, "stream size"
    assert got.size == n, "decoded size"
    bits = Bits(stream)
    half = np.float32(1 << (K - 1))
    out = np.zeros(n_blocks * C, dtype=np.float32)
    for b in range(n_blocks):
        seed = bits.take(K)
        e = bits.take(E, signed=True)
        q = [bits.take(Q, signed=True) for _ in range(P)]
        V = np.array(lfsr_states(seed, K, taps, C * P), dtype=np.float32).reshape(C, P)
        U = (V - half) / (half - np.float32(1))  # fp32 division, as specified
        r = np.zeros(C, dtype=np.float64)
        for i in range(P):  # float64 sum, i ascending
            r = r + U[:, i].astype(np.float64) * (q[i] * 2.0 ** e)
        out[b * C:(b + 1) * C] = (np.float64(scale) * r).astype(np.float32)
    out = out[:n]
    mismatches = int(np.sum(out.view(np.uint32) != got.view(np.uint32)))
    max_diff = float(np.max(np.abs(out.astype(np.float64) - got))) if n else 0.0
    with open(os.path.join(d, "seedlm_result.txt"), "w") as f:
        f.write("%d %d %.9g\n" % (n_blocks, mismatches, max_diff))


def check_ternary(d):
    rows, cols, eps, group = open(os.path.join(d, "ternary.txt")).read().split()
    rows, cols, eps, group = int(rows), int(cols), float(eps), int(group)
    w = torch.from_numpy(np.fromfile(os.path.join(d, "w.f32"), dtype="<f4").reshape(rows, cols))
    runs = torch.split(w, group, dim=1)  # views of group columns each, the last shorter
    gamma_group = torch.cat([r.abs().mean(dim=1, keepdim=True) for r in runs], dim=1)  # [rows, n_runs]
    spread = torch.cat([g.unsqueeze(1).expand(rows, r.shape[1]) for g, r in zip(gamma_group.unbind(1), runs)], dim=1)
    for mode, gamma, full in (("row", w.abs().mean(dim=1, keepdim=True), None),
                              ("tensor", w.abs().mean(), None),
                              ("group", gamma_group, spread)):
        trits = (w / ((gamma if full is None else full) + eps)).round().clamp(-1, 1).to(torch.int8)
        gamma.reshape(-1).numpy().astype("<f4").tofile(os.path.join(d, "gamma_%s.f32" % mode))
        trits.reshape(-1).numpy().tofile(os.path.join(d, "trits_%s.i8" % mode))
    t = np.fromfile(os.path.join(d, "trits_row.i8"), dtype=np.int8).astype(np.int64) + 1
    t = np.concatenate([t, np.ones((-t.size) % 5, dtype=np.int64)])  # pad with zero trits
    packed = (t.reshape(-1, 5) * np.array([1, 3, 9, 27, 81])).sum(axis=1).astype(np.uint8)
    packed.tofile(os.path.join(d, "packed_row.u8"))


if __name__ == "__main__":
    check_seedlm(sys.argv[1])
    check_ternary(sys.argv[1])
