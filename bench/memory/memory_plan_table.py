#!/usr/bin/env python3
"""The memory plan of real model shapes, from their headers alone.

For each shape below (public dimensions, written as a Llama-architecture
config.json) this makes a Hugging Face folder whose model.safetensors lists
every tensor in bf16 over a sparse data section (no disk used, nothing
large written or committed), runs `stage1 --dry-run --json` on it with the
given config (device cuda, max_vram_gb 16 unless the config says otherwise),
and prints one Markdown row per shape: parameters, the planned output size,
each phase's host and device peak and whether the plan fits.

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


def make_folder(folder, h, f, layers, heads, kv, vocab, tied, tokenizer):
    os.makedirs(folder)
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": h,
              "intermediate_size": f, "num_hidden_layers": layers, "num_attention_heads": heads,
              "num_key_value_heads": kv, "vocab_size": vocab, "max_position_embeddings": 4096,
              "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "tie_word_embeddings": tied}
    with open(os.path.join(folder, "config.json"), "w") as out:
        json.dump(config, out)
    os.symlink(tokenizer, os.path.join(folder, "tokenizer.model"))
    header, offset = {}, 0
    for name, shape in parameter_shapes(h, f, layers, heads, kv, vocab, tied):
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
    os.truncate(path, 8 + len(text) + offset)


def gb(x):
    return "%.1f GB" % (x / 2**30)


def main():
    build = sys.argv[1]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    data = os.environ.get("SEEDFORGE_DATA", os.path.join(root, "..", "shared", "data"))
    config = json.load(open(sys.argv[2])) if len(sys.argv) > 2 else json.load(open(os.path.join(root, "configs", "stories260K.json")))
    hardware = config.setdefault("hardware", {})
    hardware.setdefault("device", "cuda")
    hardware.setdefault("max_vram_gb", 16)
    config.setdefault("eval", {})["max_docs"] = 50
    budget = hardware["max_vram_gb"]
    stage1 = os.path.join(build, "tools", "stage1", "stage1")
    print("| model shape | parameters | output | host peak (phase) | device peak (phase) | largest device term | fits %g GB |" % budget)
    print("|---|---:|---:|---|---|---|---|")
    notes = []
    with tempfile.TemporaryDirectory() as work:
        config_path = os.path.join(work, "config.json")
        with open(config_path, "w") as out:
            json.dump(config, out)
        for name, h, f, layers, heads, kv, vocab, tied, note in SHAPES:
            folder = os.path.join(work, name.replace(" ", "_"))
            make_folder(folder, h, f, layers, heads, kv, vocab, tied, os.path.join(data, "tokenizers", "llama2", "tokenizer.model"))
            r = subprocess.run([stage1, "--input", folder, "--output", os.path.join(work, "x.stage1.pt"), "--config",
                                config_path, "--dry-run", "--json"], capture_output=True, text=True)
            if r.returncode != 0:
                print("| %s | failed: %s |" % (name, r.stderr.strip().splitlines()[-1]))
                continue
            plan = json.loads(r.stdout)
            phases = plan["phases"]
            host = max(phases, key=lambda p: p["host_bytes"])
            device = max(phases, key=lambda p: p["device_bytes"])
            largest = max(device["device"].items(), key=lambda kv: kv[1]) if device["device"] else ("-", 0)
            fits = device["device_bytes"] <= budget * 2**30
            print("| %s | %.2f B | %.0f MB | %s (%s) | %s (%s) | %s %s | %s |" % (
                name, plan["parameters"] / 1e9, plan["estimated_output_bytes"] / 1e6, gb(host["host_bytes"]),
                host["phase"], gb(device["device_bytes"]), device["phase"], largest[0], gb(largest[1]),
                "yes" if fits else "no"))
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
