#!/usr/bin/python3
"""BitNet b1.58 BitLinear in plain PyTorch: the reference for tests/train/test_bit_linear_python.cpp.

Written from the formulas (issue 5, and "The Era of 1-bit LLMs: Training Tips"),
not from the C++ code: the straight-through estimator is the written-out
W + lam * (W_q - W).detach(), and autograd derives the gradients.

usage: bitlinear_reference.py OUT_DIR
Writes, for each case, float32 little-endian files <case>.<tensor>.f32
(x, w, g: inputs; y: output; gx, gw: gradients of sum(y * g)) and manifest.json.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

TERNARY_EPS = 1e-5
ACT_EPS = 1e-5
NORM_EPS = 1e-5


def weight_quant(w, per_row):
    gamma = w.abs().mean(dim=1, keepdim=True) if per_row else w.abs().mean()
    return (w / (gamma + TERNARY_EPS)).round().clamp(-1, 1) * gamma


def act_quant(x, bits):
    qp = 2 ** (bits - 1) - 1
    qn = -(2 ** (bits - 1))
    scale = qp / x.abs().amax(dim=-1, keepdim=True).clamp(min=ACT_EPS)
    return (x * scale).round().clamp(qn, qp) / scale


def bit_linear(x, w, lam, per_row, bits, input_norm):
    if input_norm:
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + NORM_EPS)
    if bits > 0 and lam > 0:
        x = x + lam * (act_quant(x, bits) - x).detach()
    if lam > 0:
        w = w + lam * (weight_quant(w, per_row) - w).detach()
    return F.linear(x, w)


CASES = [
    # name, lambda, per_row, bits, input_norm
    ("full_8bit", 1.0, False, 8, False),
    ("half_8bit", 0.5, False, 8, False),
    ("zero", 0.0, False, 8, False),
    ("rows_8bit", 1.0, True, 8, False),
    ("rows_4bit_norm", 0.7, True, 4, True),
    ("full_fp_act", 1.0, False, 0, False),
    ("norm_8bit", 1.0, False, 8, True),
]


def main():
    out = sys.argv[1]
    torch.set_num_threads(1)
    manifest = []
    for i, (name, lam, per_row, bits, input_norm) in enumerate(CASES):
        torch.manual_seed(100 + i)
        x = torch.randn(3, 5, 16).requires_grad_(True)
        w = (torch.randn(24, 16) * 0.1).requires_grad_(True)
        g = torch.randn(3, 5, 24)
        y = bit_linear(x, w, lam, per_row, bits, input_norm)
        (y * g).sum().backward()
        tensors = {"x": x.detach(), "w": w.detach(), "g": g, "y": y.detach(), "gx": x.grad, "gw": w.grad}
        for key, t in tensors.items():
            t.contiguous().numpy().astype("<f4").tofile(os.path.join(out, f"{name}.{key}.f32"))
        manifest.append({"name": name, "lambda": lam, "per_row": per_row, "bits": bits, "input_norm": input_norm,
                         "shapes": {k: list(t.shape) for k, t in tensors.items()}})
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
