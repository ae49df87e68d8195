#!/usr/bin/env python3
"""Independent reference for seedforge's model path (Debian python3-torch).

Reads a llama2.c .bin model written by the C++ test, runs a forward pass in
the llama2.c layout (interleaved-pair RoPE with complex numbers, as in
llama2.c's model.py, no permutation), then a mean cross-entropy loss against
given targets and its backward pass. Writes:
  <out>/logits.f32   logits [B, T, V] float32
  <out>/loss.txt     the loss
  <out>/grads.bin    gradients in the same llama2.c file layout (the
                     freq_cis slots zero), so the C++ side reads them with the
                     same reader and compares tensor by tensor.
Usage: llama2c_reference.py MODEL.bin TOKENS.i64 B T OUT_DIR
"""
import struct
import sys

import torch
import torch.nn.functional as F


def read_model(path):
    raw = open(path, "rb").read()
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = struct.unpack("7i", raw[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    data = torch.frombuffer(bytearray(raw[28:]), dtype=torch.float32)
    head = dim // n_heads
    shapes = [
        ("tok", (vocab, dim)), ("rms_att", (n_layers, dim)),
        ("wq", (n_layers, n_heads * head, dim)), ("wk", (n_layers, n_kv * head, dim)),
        ("wv", (n_layers, n_kv * head, dim)), ("wo", (n_layers, dim, n_heads * head)),
        ("rms_ffn", (n_layers, dim)), ("w1", (n_layers, hidden, dim)),
        ("w2", (n_layers, dim, hidden)), ("w3", (n_layers, hidden, dim)),
        ("rms_final", (dim,)), ("freq_re", (seq_len, head // 2)), ("freq_im", (seq_len, head // 2)),
    ]
    if not shared:
        shapes.append(("wcls", (vocab, dim)))
    params, offset = {}, 0
    for name, shape in shapes:
        n = 1
        for s in shape:
            n *= s
        params[name] = data[offset:offset + n].view(shape).clone()
        offset += n
    assert offset == data.numel(), "size mismatch"
    cfg = dict(dim=dim, hidden=hidden, n_layers=n_layers, n_heads=n_heads, n_kv=n_kv,
               vocab=vocab, seq_len=seq_len, shared=shared, head=head)
    return cfg, params, shapes, struct.pack("7i", *struct.unpack("7i", raw[:28]))


def rmsnorm(x, w, eps=1e-5):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope(x, cos, sin):
    # x: [B, T, H, D] with interleaved pairs (x0, x1), (x2, x3), ...
    xr, xi = x.float().reshape(*x.shape[:-1], -1, 2).unbind(-1)
    out_r = xr * cos - xi * sin
    out_i = xr * sin + xi * cos
    return torch.stack([out_r, out_i], dim=-1).flatten(3)


def forward(cfg, p, tokens):
    B, T = tokens.shape
    D = cfg["head"]
    freqs = 1.0 / (10000.0 ** (torch.arange(0, D, 2, dtype=torch.float64)[: D // 2] / D))
    angles = torch.outer(torch.arange(T, dtype=torch.float64), freqs)
    cos = angles.cos().float().view(1, T, 1, D // 2)
    sin = angles.sin().float().view(1, T, 1, D // 2)
    x = p["tok"][tokens]
    mask = torch.full((T, T), float("-inf")).triu(1)
    rep = cfg["n_heads"] // cfg["n_kv"]
    for l in range(cfg["n_layers"]):
        h = rmsnorm(x, p["rms_att"][l])
        q = (h @ p["wq"][l].T).view(B, T, cfg["n_heads"], D)
        k = (h @ p["wk"][l].T).view(B, T, cfg["n_kv"], D)
        v = (h @ p["wv"][l].T).view(B, T, cfg["n_kv"], D)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        k = k.repeat_interleave(rep, dim=2)
        v = v.repeat_interleave(rep, dim=2)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / (D ** 0.5) + mask
        o = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, -1)
        x = x + o @ p["wo"][l].T
        h = rmsnorm(x, p["rms_ffn"][l])
        x = x + (F.silu(h @ p["w1"][l].T) * (h @ p["w3"][l].T)) @ p["w2"][l].T
    x = rmsnorm(x, p["rms_final"])
    return x @ (p["tok"] if cfg["shared"] else p["wcls"]).T


def main():
    model, tokens_path, B, T, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    torch.manual_seed(0)
    cfg, p, shapes, header = read_model(model)
    for name in p:
        p[name].requires_grad_(not name.startswith("freq"))
    ids = torch.frombuffer(bytearray(open(tokens_path, "rb").read()), dtype=torch.int64).view(B, T + 1)
    logits = forward(cfg, p, ids[:, :T])
    loss = F.cross_entropy(logits.reshape(-1, cfg["vocab"]), ids[:, 1:].reshape(-1))
    loss.backward()
    logits.detach().numpy().astype("float32").tofile(out + "/logits.f32")
    open(out + "/loss.txt", "w").write(repr(loss.item()))
    with open(out + "/grads.bin", "wb") as f:
        f.write(header)
        for name, _ in shapes:
            g = p[name].grad if p[name].grad is not None else torch.zeros_like(p[name])
            f.write(g.detach().contiguous().numpy().astype("float32").tobytes())


if __name__ == "__main__":
    main()
