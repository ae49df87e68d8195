#!/usr/bin/python3
"""One BitNet b1.58 fine-tuning step on stories260K in Python PyTorch: the
baseline for bench/train/bench_finetune_step.cpp (same model, batch, loss,
optimizer; run both on the same machine and libtorch).

The model is llama2.c's model.py (MIT, Karpathy) as a PyTorch user would run
this checkpoint on torch 1.13: interleaved-pair RoPE, repeat_kv, matmul /
sqrt(D) + causal mask, softmax in fp32; every projection of the blocks a
BitLinear written from the BitNet formulas with the .detach() estimator.

The step: B windows of T tokens, lambda 0.5, cross-entropy plus (kd 1)
0.5 * T^2 KL(teacher || student) from the frozen fp32 model at temperature 1,
backward, gradient clipping at 1.0, AdamW (lr 1e-3, betas 0.9/0.95, eps 1e-8,
no weight decay). Tokens are drawn at random (fixed seed): a step's cost does
not depend on which tokens it sees.

--fused runs the C++ trainer's formulation instead (attention scaled and
masked inside one baddbmm with grouped-query heads stacked rather than
repeated; straight-through estimators as custom autograd functions), to tell
what the formulation gains from what the language/runtime gains.

usage: finetune_step_pytorch.py [--batch 8] [--seq 256] [--kd 1] [--abits 8] [--row 0]
                                [--threads 2] [--steps 20] [--warmup 3] [--fused] [--model PATH]
Prints one JSON line: tokens/s, ms/step, user and sys CPU seconds per step.
"""
import argparse
import json
import math
import os
import resource
import struct
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

TERNARY_EPS = 1e-5
ACT_EPS = 1e-5


def weight_quant(w, scales):
    """scales = (per_row, group, fp16): gamma per tensor, per row, or per row and
    run of `group` columns (the last run shorter), rounded to fp16 if asked."""
    per_row, group, fp16 = scales
    if per_row and group:
        rows, cols = w.shape
        runs = -(-cols // group)
        pad = runs * group - cols
        sums = F.pad(w.abs(), (0, pad)).view(rows, runs, group).sum(2)
        widths = torch.full((runs,), float(group))
        widths[-1] = group - pad
        gamma = sums / widths
    else:
        gamma = w.abs().mean(dim=1, keepdim=True) if per_row else w.abs().mean()
    if fp16:
        gamma = gamma.half().float()
    if per_row and group:
        gamma = gamma.repeat_interleave(group, 1)[:, :w.shape[1]]
    return (w / (gamma + TERNARY_EPS)).round().clamp(-1, 1) * gamma


def act_quant(x, bits):
    qp = 2 ** (bits - 1) - 1
    scale = qp / x.abs().amax(dim=-1, keepdim=True).clamp(min=ACT_EPS)
    return (x * scale).round().clamp(-qp - 1, qp) / scale


class _SteWeight(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, lam, scales):
        q = weight_quant(w, scales)
        return q if lam >= 1 else q.sub_(w).mul_(lam).add_(w)

    @staticmethod
    def backward(ctx, g):
        return g, None, None


class _SteAct(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lam, bits):
        q = act_quant(x, bits)
        return q if lam >= 1 else q.sub_(x).mul_(lam).add_(x)

    @staticmethod
    def backward(ctx, g):
        return g, None, None


class BitLinear(nn.Linear):
    def __init__(self, weight, bits, scales, fused):
        super().__init__(weight.shape[1], weight.shape[0], bias=False)
        self.weight = nn.Parameter(weight.clone())
        self.bits, self.scales, self.fused, self.lam = bits, scales, fused, 1.0

    def forward(self, x):
        lam, w = self.lam, self.weight
        if self.fused:
            if self.bits and lam > 0:
                x = _SteAct.apply(x, lam, self.bits)
            if lam > 0:
                w = _SteWeight.apply(w, lam, self.scales)
        else:
            if self.bits and lam > 0:
                x = x + lam * (act_quant(x, self.bits) - x).detach()
            if lam > 0:
                w = w + lam * (weight_quant(w, self.scales) - w).detach()
        return F.linear(x, w)


class RMSNorm(nn.Module):
    def __init__(self, weight, eps=1e-5):
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(weight.clone())

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def apply_rotary_emb(xq, xk, cos, sin):
    # llama2.c model.py: interleaved pairs as real/imaginary parts.
    xq_r, xq_i = xq.float().reshape(xq.shape[:-1] + (-1, 2)).unbind(-1)
    xk_r, xk_i = xk.float().reshape(xk.shape[:-1] + (-1, 2)).unbind(-1)
    xq_out = torch.stack([xq_r * cos - xq_i * sin, xq_r * sin + xq_i * cos], dim=-1).flatten(3)
    xk_out = torch.stack([xk_r * cos - xk_i * sin, xk_r * sin + xk_i * cos], dim=-1).flatten(3)
    return xq_out.type_as(xq), xk_out.type_as(xk)


def repeat_kv(x, n_rep):
    bs, slen, n_kv_heads, head_dim = x.shape
    if n_rep == 1:
        return x
    return x[:, :, :, None, :].expand(bs, slen, n_kv_heads, n_rep, head_dim).reshape(bs, slen, n_kv_heads * n_rep, head_dim)


class Block(nn.Module):
    def __init__(self, cfg, p, l, make_linear, fused):
        super().__init__()
        self.cfg, self.fused = cfg, fused
        self.attention_norm = RMSNorm(p["rms_att"][l])
        self.wq, self.wk = make_linear(p["wq"][l]), make_linear(p["wk"][l])
        self.wv, self.wo = make_linear(p["wv"][l]), make_linear(p["wo"][l])
        self.ffn_norm = RMSNorm(p["rms_ffn"][l])
        self.w1, self.w2, self.w3 = make_linear(p["w1"][l]), make_linear(p["w2"][l]), make_linear(p["w3"][l])

    def attention(self, x, cos, sin, mask):
        c = self.cfg
        B, T, _ = x.shape
        H, Hkv, D = c["n_heads"], c["n_kv"], c["head"]
        rep = H // Hkv
        xq, xk, xv = self.wq(x).view(B, T, H, D), self.wk(x).view(B, T, Hkv, D), self.wv(x).view(B, T, Hkv, D)
        xq, xk = apply_rotary_emb(xq, xk, cos, sin)
        if self.fused:
            q = xq.transpose(1, 2).reshape(B * Hkv, rep * T, D)
            k = xk.transpose(1, 2).reshape(B * Hkv, T, D)
            v = xv.transpose(1, 2).reshape(B * Hkv, T, D)
            scores = torch.baddbmm(mask, q, k.transpose(1, 2), beta=1.0, alpha=1.0 / math.sqrt(D))
            out = torch.bmm(F.softmax(scores.float(), dim=-1).type_as(q), v).view(B, H, T, D)
        else:
            xk, xv = repeat_kv(xk, rep), repeat_kv(xv, rep)
            xq, xk, xv = xq.transpose(1, 2), xk.transpose(1, 2), xv.transpose(1, 2)
            scores = torch.matmul(xq, xk.transpose(2, 3)) / math.sqrt(D)
            scores = scores + mask[:, :, :T, :T]
            scores = F.softmax(scores.float(), dim=-1).type_as(xq)
            out = torch.matmul(scores, xv)
        return self.wo(out.transpose(1, 2).contiguous().view(B, T, -1))

    def forward(self, x, cos, sin, mask):
        h = x + self.attention(self.attention_norm(x), cos, sin, mask)
        n = self.ffn_norm(h)
        return h + self.w2(F.silu(self.w1(n)) * self.w3(n))


class Transformer(nn.Module):
    def __init__(self, cfg, p, make_linear, fused, seq):
        super().__init__()
        self.cfg, self.fused = cfg, fused
        self.tok_embeddings = nn.Embedding(cfg["vocab"], cfg["dim"])
        self.tok_embeddings.weight = nn.Parameter(p["tok"].clone())
        self.layers = nn.ModuleList(Block(cfg, p, l, make_linear, fused) for l in range(cfg["n_layers"]))
        self.norm = RMSNorm(p["rms_final"])
        D = cfg["head"]
        freqs = 1.0 / (10000.0 ** (torch.arange(0, D, 2)[: D // 2].float() / D))
        angles = torch.outer(torch.arange(seq).float(), freqs)
        self.register_buffer("cos", angles.cos().view(1, seq, 1, D // 2), persistent=False)
        self.register_buffer("sin", angles.sin().view(1, seq, 1, D // 2), persistent=False)
        mask = torch.full((seq, seq), float("-inf")).triu(1)
        rep = cfg["n_heads"] // cfg["n_kv"]
        self.register_buffer("mask", mask.repeat(rep, 1) if fused else mask.view(1, 1, seq, seq), persistent=False)

    def forward(self, tokens):
        x = self.tok_embeddings(tokens)
        for layer in self.layers:
            x = layer(x, self.cos, self.sin, self.mask)
        return F.linear(self.norm(x), self.tok_embeddings.weight)


def read_llama2c(path):
    raw = open(path, "rb").read()
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = struct.unpack("7i", raw[:28])
    assert vocab > 0, "this bench expects a shared classifier"
    data = torch.frombuffer(bytearray(raw[28:]), dtype=torch.float32)
    head = dim // n_heads
    shapes = [("tok", (vocab, dim)), ("rms_att", (n_layers, dim)), ("wq", (n_layers, n_heads * head, dim)),
              ("wk", (n_layers, n_kv * head, dim)), ("wv", (n_layers, n_kv * head, dim)),
              ("wo", (n_layers, dim, n_heads * head)), ("rms_ffn", (n_layers, dim)), ("w1", (n_layers, hidden, dim)),
              ("w2", (n_layers, dim, hidden)), ("w3", (n_layers, hidden, dim)), ("rms_final", (dim,))]
    p, offset = {}, 0
    for name, shape in shapes:
        n = math.prod(shape)
        p[name] = data[offset:offset + n].view(shape).clone()
        offset += n
    cfg = dict(dim=dim, hidden=hidden, n_layers=n_layers, n_heads=n_heads, n_kv=n_kv, vocab=vocab, head=head)
    return cfg, p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--kd", type=int, default=1)
    ap.add_argument("--abits", type=int, default=8)
    ap.add_argument("--row", type=int, default=0)
    ap.add_argument("--group", type=int, default=0, help="with --row 1: one scale per this many columns")
    ap.add_argument("--fp16-scales", action="store_true", help="round the scales to fp16")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--fused", action="store_true")
    default_model = os.path.join(os.environ.get("SEEDFORGE_DATA", os.path.join(os.path.dirname(__file__), "../../../shared/data")),
                                 "models/stories260K/stories260K.bin")
    ap.add_argument("--model", default=default_model)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1234)
    cfg, p = read_llama2c(a.model)
    student = Transformer(cfg, p, lambda w: BitLinear(w, a.abits, (bool(a.row), a.group if a.row else 0, a.fp16_scales), a.fused), a.fused, a.seq)
    for m in student.modules():
        if isinstance(m, BitLinear):
            m.lam = 0.5
    teacher = None
    if a.kd:
        teacher = Transformer(cfg, p, lambda w: nn.Linear(w.shape[1], w.shape[0], bias=False), a.fused, a.seq)
        for (name, param), src in zip(teacher.named_parameters(), student.parameters()):
            param.data.copy_(src.data)
            param.requires_grad_(False)
        teacher.eval()
    params = [q for q in student.parameters()]
    opt = torch.optim.AdamW([{"params": [q for q in params if q.dim() >= 2], "weight_decay": 0.0},
                             {"params": [q for q in params if q.dim() < 2], "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    V = cfg["vocab"]

    def step():
        batch = torch.randint(0, V, (a.batch, a.seq + 1))
        inputs, targets = batch[:, :-1], batch[:, 1:].reshape(-1)
        logits = student(inputs).view(-1, V)
        loss = F.cross_entropy(logits, targets)
        if teacher is not None:
            with torch.no_grad():
                t_logp = F.log_softmax(teacher(inputs).view(-1, V), dim=-1)
            kd = (t_logp.exp() * (t_logp - F.log_softmax(logits, dim=-1))).sum(-1).mean()
            loss = loss + 0.5 * kd
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    t1, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    per = (t1 - t0) / a.steps
    print(json.dumps({"impl": "python-fused" if a.fused else "python", "batch": a.batch, "seq": a.seq, "kd": a.kd,
                      "abits": a.abits, "row": a.row, "threads": torch.get_num_threads(), "steps": a.steps,
                      "ms_per_step": round(per * 1e3, 2), "tokens_per_s": round(a.batch * a.seq / per, 1),
                      "user_s_per_step": round((r1.ru_utime - r0.ru_utime) / a.steps, 4),
                      "sys_s_per_step": round((r1.ru_stime - r0.ru_stime) / a.steps, 4),
                      "last_loss": round(loss, 4), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
