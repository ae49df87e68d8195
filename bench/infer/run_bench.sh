#!/usr/bin/env bash
# The inference engine's speed and memory, single sequence on the CPU, at 1 and
# 2 threads (docs/RESULTS.md, "Inference engine"):
#   (a) stories260K: the engine on out/stories260K.stage1.pt (make demo's file)
#       against llama2.c's run.c on the fp32 original (../shared/peers/llama2c/run.c,
#       compiled here into the output folder, never into the project) and against
#       `--engine torch` (the same file's decoded weights through libtorch, A8 activations);
#   (b) memory-bound: random ternary weights in TinyLlama-1.1B's shape (made here by
#       make_ternary_model) against the same model decoded to dense fp32 and run by
#       libtorch as a plain Hugging Face folder (full-precision activations); the
#       engine also with its decoded head in fp16 (SEEDFORGE_INFER_FP16_DENSE=1);
#       and the same shape with make demo's projection levels (attention at 5
#       levels, the MLP at 7) on the I4-32 kernel against those levels decoded to
#       dense fp16 (SEEDFORGE_INFER_DENSE_LEVELS=1 SEEDFORGE_INFER_FP16_DENSE=1).
# Every figure is one process (so that its peak RSS is its own): decode tokens/s
# (greedy from BOS with the KV cache; 256 steps for (a), 32 for (b)), prefill
# tokens/s (one prompt of 256), peak RSS and RSS after loading, user and sys CPU
# time per decoded token (all threads). Medians of --repeats runs. Prints a
# Markdown table and writes OUT/infer_bench.json.
#
#   bench/infer/run_bench.sh [--build build] [--out build/bench-infer] [--repeats 5]
#                            [--model out/stories260K.stage1.pt] [--skip-large] [--skip-small]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=build
OUT=
REPEATS=5
SMALL=out/stories260K.stage1.pt
LARGE=1
SMALL_RUN=1
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --repeats) REPEATS=$2; shift 2 ;;
    --model) SMALL=$2; shift 2 ;;
    --skip-large) LARGE=0; shift ;;
    --skip-small) SMALL_RUN=0; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
OUT=${OUT:-$BUILD/bench-infer}
DATA=${SEEDFORGE_DATA:-$(cd .. && pwd)/shared/data}
export SEEDFORGE_DATA=$DATA OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
PEER=$(cd .. && pwd)/shared/peers/llama2c/run.c
BENCH=$BUILD/bench/infer/bench_infer
BENCH_TORCH=$BUILD/bench/infer/bench_infer_torch
STAGE1=$BUILD/tools/stage1/stage1
MAKER=$BUILD/bench/infer/make_ternary_model
PY=/usr/bin/python3
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: > "$RESULTS"
for f in "$BENCH" "$BENCH_TORCH" "$STAGE1" "$MAKER"; do
  [ -x "$f" ] || { echo "missing $f: build first (cmake --build $BUILD)" >&2; exit 1; }
done

# record MODEL RUNNER THREADS KIND VALUE PEAK_KIB USER SYS EXTRA_JSON
record() {
  $PY - "$@" >> "$RESULTS" <<'EOF'
import json, sys
m, runner, threads, kind, value, peak, user, sys_, extra = sys.argv[1:10]
row = {"model": m, "runner": runner, "threads": int(threads), "kind": kind, "value": float(value),
       "peak_rss_mib": int(peak) / 1024.0, "user_s": float(user), "sys_s": float(sys_)}
row.update(json.loads(extra))
print(json.dumps(row))
EOF
}

# bench_one MODEL RUNNER THREADS FILTER KIND [ENV...]: one bench_infer process.
bench_one() {
  local model=$1 runner=$2 threads=$3 filter=$4 kind=$5
  shift 5
  local json=$OUT/bench.json timef=$OUT/time.txt bin=$BENCH
  case "$filter" in BM_Torch*) bin=$BENCH_TORCH ;; esac
  env "$@" /usr/bin/time -f "%e %U %S %M" -o "$timef" "$bin" --benchmark_filter="^${filter}/" \
    --benchmark_repetitions="$REPEATS" --benchmark_report_aggregates_only=true \
    --benchmark_format=json --benchmark_out="$json" > /dev/null
  read -r _ user sys peak < "$timef"
  local extra
  extra=$($PY - "$json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
# The median of the repetitions; with --repeats 1 Google Benchmark reports no aggregates, only the run.
b = ([x for x in d["benchmarks"] if x.get("aggregate_name") == "median"] or d["benchmarks"])[0]
print(json.dumps({"tokens_per_second": b["items_per_second"], "rss_after_load_mib": b["rss_after_load_MiB"],
                  "weights_mib": b["weights_MiB"], "cpu_user_s_per_iter": b["user_s"], "cpu_sys_s_per_iter": b["sys_s"],
                  "kernels": b.get("label", ""), "cpu": d["context"].get("mhz_per_cpu", 0),
                  "host": d["context"].get("host_name", "")}))
EOF
)
  local value
  value=$($PY -c 'import json,sys; print(json.loads(sys.argv[1])["tokens_per_second"])' "$extra")
  record "$model" "$runner" "$threads" "$kind" "$value" "$peak" "$user" "$sys" "$extra"
  echo "  $model $runner threads $threads $kind: $(printf '%.1f' "$value") tokens/s, peak $((peak / 1024)) MiB" >&2
}

if [ "$SMALL_RUN" = 1 ]; then
  [ -f "$SMALL" ] || { echo "missing $SMALL: run make demo first (or --model FILE)" >&2; exit 1; }
  echo "(a) stories260K" >&2
  # llama2.c run.c, compiled beside the project (never committed into it), as
  # its README builds it (-O3) and as its Makefile's `runfast` does (-Ofast,
  # which lets the compiler vectorize its float sums). run.c stops at BOS and
  # times in milliseconds, so it reads a prompt first (the start of valid.txt,
  # about 100 tokens, one forward pass each as every generated token): its
  # tokens/s then covers positions 0..255, as the engine's decode figure does.
  prompt=$(head -c 400 "$DATA/text/tinystories/valid.txt" | tr '\n' ' ')
  for opt in O3 Ofast; do
    gcc -$opt -march=native -fopenmp -o "$OUT/run_c_$opt" "$PEER" -lm
    for t in 1 2; do
      rates=()
      for _ in $(seq "$REPEATS"); do
        # OpenMP's own wait policy (spinning a while), not the PASSIVE one exported for libtorch:
        # run.c opens a parallel region per matrix and token, which passive threads make slow.
        env -u OMP_WAIT_POLICY OMP_NUM_THREADS=$t /usr/bin/time -f "%e %U %S %M" -o "$OUT/time.txt" "$OUT/run_c_$opt" \
          "$DATA/models/stories260K/stories260K.bin" -z "$DATA/models/stories260K/tok512.bin" -t 0 -n 256 \
          -i "$prompt" > /dev/null 2> "$OUT/run_c.err"
        rates+=("$(sed -n 's/^achieved tok\/s: //p' "$OUT/run_c.err")")
      done
      read -r _ user sys peak < "$OUT/time.txt"
      median=$(printf '%s\n' "${rates[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
      record stories260K "run.c fp32 (-$opt)" "$t" decode "$median" "$peak" "$user" "$sys" \
        '{"note": "llama2.c run.c -t 0 -n 256 with a 400-byte valid.txt prompt (positions 0..255 as the engine decode); positions per second (prompt and generated); user/sys of the last run, whole process"}'
      echo "  stories260K run.c -$opt threads $t: $median positions/s" >&2
    done
  done
  for t in 1 2; do
    bench_one stories260K engine "$t" "BM_EngineDecode/threads:$t/steps:256" decode SEEDFORGE_INFER_MODEL="$SMALL"
    bench_one stories260K engine "$t" "BM_EnginePrefill/threads:$t/tokens:256" prefill SEEDFORGE_INFER_MODEL="$SMALL"
    bench_one stories260K "torch (--engine torch)" "$t" "BM_TorchDecode/threads:$t/steps:256" decode SEEDFORGE_INFER_MODEL="$SMALL"
    bench_one stories260K "torch (--engine torch)" "$t" "BM_TorchPrefill/threads:$t/tokens:256" prefill SEEDFORGE_INFER_MODEL="$SMALL"
  done
fi

if [ "$LARGE" = 1 ]; then
  echo "(b) TinyLlama-1.1B shape, random ternary weights" >&2
  LFILE=$OUT/tinyllama-shape.stage1.pt
  LDENSE=$OUT/tinyllama-shape-dense
  [ -f "$LFILE" ] || "$MAKER" --output "$LFILE"
  [ -f "$LDENSE/config.json" ] || { mkdir -p "$LDENSE" && "$STAGE1" decode "$LFILE" --output "$LDENSE/"; }
  for t in 1 2; do
    bench_one tinyllama-shape engine "$t" "BM_EngineDecode/threads:$t/steps:32" decode SEEDFORGE_INFER_MODEL="$LFILE"
    bench_one tinyllama-shape engine "$t" "BM_EnginePrefill/threads:$t/tokens:256" prefill SEEDFORGE_INFER_MODEL="$LFILE"
    bench_one tinyllama-shape "engine, fp16 head" "$t" "BM_EngineDecode/threads:$t/steps:32" decode \
      SEEDFORGE_INFER_MODEL="$LFILE" SEEDFORGE_INFER_FP16_DENSE=1
    bench_one tinyllama-shape "engine, fp16 head" "$t" "BM_EnginePrefill/threads:$t/tokens:256" prefill \
      SEEDFORGE_INFER_MODEL="$LFILE" SEEDFORGE_INFER_FP16_DENSE=1
    bench_one tinyllama-shape "torch dense fp32" "$t" "BM_TorchDecode/threads:$t/steps:32" decode SEEDFORGE_INFER_DENSE="$LDENSE"
    bench_one tinyllama-shape "torch dense fp32" "$t" "BM_TorchPrefill/threads:$t/tokens:256" prefill SEEDFORGE_INFER_DENSE="$LDENSE"
  done
  echo "(b) TinyLlama-1.1B shape, random levels (5 and 7)" >&2
  LLEVELS=$OUT/tinyllama-shape-levels.stage1.pt
  [ -f "$LLEVELS" ] || "$MAKER" --output "$LLEVELS" --attn-levels 2 --mlp-levels 3
  for t in 1 2; do
    bench_one tinyllama-shape-levels engine "$t" "BM_EngineDecode/threads:$t/steps:32" decode SEEDFORGE_INFER_MODEL="$LLEVELS"
    bench_one tinyllama-shape-levels engine "$t" "BM_EnginePrefill/threads:$t/tokens:256" prefill SEEDFORGE_INFER_MODEL="$LLEVELS"
    bench_one tinyllama-shape-levels "engine, levels as dense fp16" "$t" "BM_EngineDecode/threads:$t/steps:32" decode \
      SEEDFORGE_INFER_MODEL="$LLEVELS" SEEDFORGE_INFER_DENSE_LEVELS=1 SEEDFORGE_INFER_FP16_DENSE=1
    bench_one tinyllama-shape-levels "engine, levels as dense fp16" "$t" "BM_EnginePrefill/threads:$t/tokens:256" prefill \
      SEEDFORGE_INFER_MODEL="$LLEVELS" SEEDFORGE_INFER_DENSE_LEVELS=1 SEEDFORGE_INFER_FP16_DENSE=1
  done
fi

# The table.
$PY - "$RESULTS" "$OUT/infer_bench.json" <<'EOF'
import json, platform, subprocess, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
out = {"cpu": cpu, "cores": __import__("os").cpu_count(), "rows": rows}
json.dump(out, open(sys.argv[2], "w"), indent=2)
print(f"CPU {cpu}, {out['cores']} cores\n")
print("| model | runner | threads | decode tokens/s | prefill tokens/s | peak RSS MiB (decode) | RSS after load MiB | weights MiB | CPU ms per decoded token (user + sys) |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
keys = []
for r in rows:
    k = (r["model"], r["runner"], r["threads"])
    if k not in keys: keys.append(k)
steps = {"stories260K": 256, "tinyllama-shape": 32, "tinyllama-shape-levels": 32}
for k in keys:
    d = next((r for r in rows if (r["model"], r["runner"], r["threads"]) == k and r["kind"] == "decode"), None)
    p = next((r for r in rows if (r["model"], r["runner"], r["threads"]) == k and r["kind"] == "prefill"), None)
    fmt = lambda v, f="{:,.1f}": f.format(v) if v is not None else ""
    cpu_ms = None
    if d is not None and "cpu_user_s_per_iter" in d:
        cpu_ms = 1000.0 * (d["cpu_user_s_per_iter"] + d["cpu_sys_s_per_iter"]) / steps[k[0]]
    print(f"| {k[0]} | {k[1]} | {k[2]} | {fmt(d and d['value'])} | {fmt(p and p['value'])} | "
          f"{fmt(d and d['peak_rss_mib'], '{:,.0f}')} | {fmt(d and d.get('rss_after_load_mib'), '{:,.0f}')} | "
          f"{fmt(d and d.get('weights_mib'), '{:,.1f}')} | {fmt(cpu_ms, '{:.3f}')} |")
EOF
