#!/bin/bash
# The memory plan against a measured run: a random-weight Llama-family model
# (made here as a bf16 safetensors Hugging Face folder, dimensions as given,
# vocabulary 32,000, so nothing large is committed) goes through
# `stage1 --dry-run --json` and then a real `stage1` run of a few fine-tuning
# steps on this CPU. Prints the plan's host peak (phase and terms), the
# measured peak RSS (/usr/bin/time's maximum resident set), their ratio, and
# the run's stage times. A benchmark figure, not a test.
#
#   bench/memory/measure_rss.sh BUILD_DIR [DIM HIDDEN LAYERS HEADS KV_HEADS] [STEPS] [MODE] [E2E_STEPS]
# Default: 768 2048 12 12 4 (about 125 M parameters), 4 steps, MODE end_to_end
# (fine-tuning steps); MODE blockwise: STEPS steps per block on 16
# calibration windows, then E2E_STEPS (default 0) steps of the end-to-end
# phase (a 1.1B model: 2048 5632 22 32 4).
set -euo pipefail
build=${1:?usage: measure_rss.sh BUILD_DIR [DIM HIDDEN LAYERS HEADS KV_HEADS] [STEPS]}
dim=${2:-768}; hidden=${3:-2048}; layers=${4:-12}; heads=${5:-12}; kv=${6:-4}; steps=${7:-4}; mode=${8:-end_to_end}; e2e_steps=${9:-0}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export SEEDFORGE_DATA=${SEEDFORGE_DATA:-$root/../shared/data}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
stage1=$build/tools/stage1/stage1
work=$(mktemp -d)
trap '[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT

PYTHONPATH="$here" /usr/bin/python3 - "$work/model" "$dim" "$hidden" "$layers" "$heads" "$kv" "$SEEDFORGE_DATA" <<'PY'
import os, sys
import torch
from memory_plan_table import make_folder
folder, dim, hidden, layers, heads, kv, data = sys.argv[1], *map(int, sys.argv[2:7]), sys.argv[7]
torch.manual_seed(0)
def weights(name, shape):
    t = torch.ones(shape) if name.endswith("norm.weight") else torch.randn(shape) * 0.02
    return t.to(torch.bfloat16).view(torch.int16).numpy().tobytes()
make_folder(folder, dim, hidden, layers, heads, kv, 32000, False,
            os.path.join(data, "tokenizers", "llama2", "tokenizer.model"), weights, max_positions=2048)
PY

cat > "$work/config.json" <<JSON
{"bitnet": {"max_steps": $steps, "mode": "$mode", "block_steps": $steps, "block_windows": 16, "e2e_steps": $e2e_steps, "batch_size": 2, "seq_len": 128, "kd_weight": 0.5, "teacher_top_k": 32,
            "train_text": ["text/tinystories/train.txt"], "checkpoint_every": 0, "checkpoint_dir": "$work/ckpt"},
 "encoding": {"float": "int8"},
 "eval": {"max_docs": 20},
 "hardware": {"threads": $(nproc)}}
JSON
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GB"
echo "mode $mode, $steps steps$([ "$mode" = blockwise ] && echo " per block, $e2e_steps end-to-end steps"), batch 2 x 128 tokens, threads $(nproc)"
echo "model: dim $dim, hidden $hidden, $layers layers, $heads/$kv heads, vocabulary 32000, bf16 safetensors $(du -m "$work/model/model.safetensors" | cut -f1) MB"
/usr/bin/time -f "%e s wall, %M KB peak RSS (dry run)" "$stage1" --input "$work/model" --output "$work/out.stage1.pt" \
  --config "$work/config.json" --dry-run --json > "$work/plan.json" 2> "$work/plan.err" || { cat "$work/plan.err"; exit 1; }
tail -1 "$work/plan.err"
/usr/bin/time -f "%M" -o "$work/rss" "$stage1" --input "$work/model" --output "$work/out.stage1.pt" \
  --config "$work/config.json" > "$work/run.out" 2> "$work/run.err" || { code=$?; [ $code -eq 3 ] || { tail -20 "$work/run.err"; exit 1; }; }
/usr/bin/python3 - "$work/plan.json" "$work/rss" "$work/out.stage1.pt.report.json" <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))
rss = int(open(sys.argv[2]).read().split()[-1]) * 1024
report = json.load(open(sys.argv[3]))
gib = 2 ** 30
print("parameters %d" % plan["parameters"])
print("| phase | planned host |")
print("|---|---:|")
for p in plan["phases"]:
    print("| %s | %.2f GB |" % (p["phase"], p["host_bytes"] / gib))
peak = max(plan["phases"], key=lambda p: p["host_bytes"])
print("planned host peak: %s %.2f GB (%s)" % (peak["phase"], peak["host_bytes"] / gib,
      ", ".join("%s %.2f" % (k, v / gib) for k, v in peak["host"].items())))
# stage1 resets the kernel's high-water mark at each stage (so /usr/bin/time
# sees only the last one's); the report carries the whole run's peak and each
# stage's.
rss = max(rss, report.get("peak_rss_bytes", 0))
print("measured peak RSS: %.2f GB; measured / planned = %.2f" % (rss / gib, rss / peak["host_bytes"]))
stages = report.get("stages", [])
print("stages: " + ", ".join("%s %.1f s" % (s["stage"], s["seconds"]) for s in stages))
# Each stage's measured peak against the plan's phases it runs.
phases = {p["phase"]: p["host_bytes"] for p in plan["phases"]}
of_stage = {"load": ["load"], "baseline evaluation": ["baseline evaluation"],
            "bitnet conversion and fine-tuning": ["fine-tuning", "block-wise fine-tuning", "end-to-end phase"],
            "encoding": ["encoding"], "compressed evaluation": ["compressed evaluation"],
            "reload and evaluate": ["reload and evaluate"]}
print("| stage | seconds | measured host peak | planned (phase) | measured / planned |")
print("|---|---:|---:|---:|---:|")
for s in stages:
    planned = [(phases[p], p) for p in of_stage.get(s["stage"], []) if p in phases]
    measured = s.get("peak_rss_bytes", -1)
    if planned and measured > 0:
        bytes_, name = max(planned)
        print("| %s | %.1f | %.2f GB | %.2f GB (%s) | %.2f |" % (s["stage"], s["seconds"], measured / gib, bytes_ / gib, name, measured / bytes_))
    elif measured > 0:
        print("| %s | %.1f | %.2f GB | - | - |" % (s["stage"], s["seconds"], measured / gib))
t = report.get("train", {})
if t:
    print("fine-tuning: %s tokens/s" % t.get("tokens_per_second"))
PY
