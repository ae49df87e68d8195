#!/usr/bin/env python3
"""The memory plan of real model shapes, from their headers alone.

For each shape below (public dimensions, written as a Llama-architecture
config.json) this makes a Hugging Face folder whose model.safetensors lists
every tensor in bf16 over a sparse data section (no disk used, nothing
large written or committed), runs `stage1 --dry-run --json` on it with the
given config (device cuda, max_vram_gb 16 unless the config says otherwise)
in bitnet.mode end_to_end and blockwise, and prints one Markdown row per
shape: parameters, the planned output size, the host peak, and the device
memory of end-to-end fine-tuning and of the two block-wise phases, each
against the budget, and the block-wise run's device peak over all its
phases (the evaluations included).

    bench/memory/memory_plan_table.py BUILD_DIR [CONFIG_JSON]

A figure from the estimate, not a measurement: bench/memory/measure_rss.sh
measures a run against it.
"""
import json
import os
import subprocess
import sys
import tempfile

SHAPES = [
    # name, hidden, intermediate, layers, heads, kv heads, vocab, tied, note
    ("Llama-3.2-1B", 2048, 8192, 16, 32, 8, 128256, True, ""),
    ("Llama-3.2-3B", 3072, 8192, 28, 24, 8, 128256, True, ""),
    ("Qwen3-4B dims", 2560, 9728, 36, 32, 8, 151936, True,
     "as Llama: head_dim = hidden/heads (Qwen3 uses 128) and no q/k norms, so fewer parameters than Qwen3-4B's 4.0 B"),
    ("Phi-3-mini dims", 3072, 8192, 32, 32, 32, 32064, False, "as Llama with q/k/v and gate/up unfused"),
]


def parameter_shapes(h, f, layers, heads, kv, vocab, tied):
    d = h // heads
    out = [("model.embed_tokens.weight", [vocab, h])]
    for i in range(layers):
        p = f"model.layers.{i}."
        out += [(p + "self_attn.q_proj.weight", [heads * d, h]), (p + "self_attn.k_proj.weight", [kv * d, h]),
                (p + "self_attn.v_proj.weight", [kv * d, h]), (p + "self_attn.o_proj.weight", [h, heads * d]),
                (p + "mlp.gate_proj.weight", [f, h]), (p + "mlp.up_proj.weight", [f, h]),
                (p + "mlp.down_proj.weight", [h, f]), (p + "input_layernorm.weight", [h]),
                (p + "post_attention_layernorm.weight", [h])]
    out.append(("model.norm.weight", [h]))
    if not tied:
        out.append(("lm_head.weight", [vocab, h]))
    return out


def make_folder(folder, h, f, layers, heads, kv, vocab, tied, tokenizer, weights=None, max_positions=4096):
    """A Llama-architecture HF folder. weights(name, shape) -> the tensor's
    bf16 bytes; None leaves the data section a sparse hole (headers only)."""
    os.makedirs(folder)
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": h,
              "intermediate_size": f, "num_hidden_layers": layers, "num_attention_heads": heads,
              "num_key_value_heads": kv, "vocab_size": vocab, "max_position_embeddings": max_positions,
              "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "tie_word_embeddings": tied}
    with open(os.path.join(folder, "config.json"), "w") as out:
        json.dump(config, out)
    os.symlink(tokenizer, os.path.join(folder, "tokenizer.model"))
    shapes = parameter_shapes(h, f, layers, heads, kv, vocab, tied)
    header, offset = {}, 0
    for name, shape in shapes:
        n = 2
        for s in shape:
            n *= s
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path = os.path.join(folder, "model.safetensors")
    with open(path, "wb") as out:
        out.write(len(text).to_bytes(8, "little"))
        out.write(text)
        if weights is not None:
            for name, shape in shapes:
                out.write(weights(name, shape))
    if weights is None:
        os.truncate(path, 8 + len(text) + offset)


def gb(x):
    return "%.1f GB" % (x / 2**30)


def plan_of(stage1, folder, work, config):
    path = os.path.join(work, "config.json")
    with open(path, "w") as out:
        json.dump(config, out)
    r = subprocess.run([stage1, "--input", folder, "--output", os.path.join(work, "x.stage1.pt"), "--config", path,
                        "--dry-run", "--json"], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip().splitlines()[-1])
    return json.loads(r.stdout)


def phase(plan, name):
    for p in plan["phases"]:
        if p["phase"] == name:
            return p
    return None


def main():
    build = sys.argv[1]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    data = os.environ.get("SEEDFORGE_DATA", os.path.join(root, "..", "shared", "data"))
    config = json.load(open(sys.argv[2])) if len(sys.argv) > 2 else json.load(open(os.path.join(root, "configs", "stories260K.json")))
    hardware = config.setdefault("hardware", {})
    hardware.setdefault("device", "cuda")
    hardware.setdefault("max_vram_gb", 16)
    config.setdefault("eval", {})["max_docs"] = 50
    budget = hardware["max_vram_gb"] * 2**30
    b = config["bitnet"]
    e2e_steps = b.get("e2e_steps", 0)
    stage1 = os.path.join(build, "tools", "stage1", "stage1")
    print("bitnet: batch_size %s, seq_len %s; blockwise: block_windows %s, e2e_steps %s; hardware.device %s (bf16)" % (
        b.get("batch_size"), b.get("seq_len"), b.get("block_windows", 256), e2e_steps, hardware["device"]))
    print()
    print("| model shape | parameters | output | blockwise: host peak (phase) | end_to_end: device | blockwise: block phase device | blockwise: end-to-end phase device | blockwise: device peak of the whole run (phase) |")
    print("|---|---:|---:|---|---|---|---|---|")
    notes = []
    with tempfile.TemporaryDirectory() as work:
        for name, h, f, layers, heads, kv, vocab, tied, note in SHAPES:
            folder = os.path.join(work, name.replace(" ", "_"))
            make_folder(folder, h, f, layers, heads, kv, vocab, tied, os.path.join(data, "tokenizers", "llama2", "tokenizer.model"))
            try:
                config["bitnet"]["mode"] = "end_to_end"
                e2e = plan_of(stage1, folder, work, config)
                config["bitnet"]["mode"] = "blockwise"
                blocks = plan_of(stage1, folder, work, config)
            except RuntimeError as e:
                print("| %s | failed: %s |" % (name, e))
                continue
            host = max(blocks["phases"], key=lambda p: p["host_bytes"])
            ft = phase(e2e, "fine-tuning")
            bw = phase(blocks, "block-wise fine-tuning")
            ep = phase(blocks, "end-to-end phase")

            def cell(p):
                if p is None:
                    return "-"
                largest = max(p["device"].items(), key=lambda kv: kv[1])
                return "%s %s (largest: %s %s)" % (gb(p["device_bytes"]), "fits" if p["device_bytes"] <= budget else "**does not fit**",
                                                   largest[0], gb(largest[1]))
            dev = max(blocks["phases"], key=lambda p: p["device_bytes"])
            print("| %s | %.2f B | %.0f MB | %s (%s) | %s | %s | %s | %s %s (%s) |" % (
                name, blocks["parameters"] / 1e9, blocks["estimated_output_bytes"] / 1e6, gb(host["host_bytes"]),
                host["phase"], cell(ft), cell(bw), cell(ep), gb(dev["device_bytes"]),
                "fits" if dev["device_bytes"] <= budget else "**does not fit**", dev["phase"]))
            if note:
                notes.append("%s: %s." % (name, note))
            shutil_rm(folder)
    for n in notes:
        print("\n" + n)


def shutil_rm(folder):
    import shutil
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
