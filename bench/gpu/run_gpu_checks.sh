#!/usr/bin/env bash
# The CUDA checks, in one go on a GPU machine with pip's torch (CUDA), a
# compiler, CMake and no apt:
#   DEPS_PREFIX=.deps-prefix SEEDFORGE_DATA=<data> bench/gpu/run_gpu_checks.sh OUTDIR [STEPS] [LONG_STEPS]
# 1. builds against pip's libtorch (scripts/build-pip-torch.sh),
# 2. runs the gpu-labelled tests (CUDA against the CPU trainer, memory estimate),
#    and the CPU trainer tests against this newer libtorch,
# 3. runs Stage 1 on stories260K with hardware.device "cuda" (the shipped config,
#    STEPS steps, default 8000) and, beside it on the same GPU, `stage1 finetune`
#    for LONG_STEPS steps (default 32000) with validation on valid.txt every
#    LONG_STEPS/8 steps: how retention grows with steps beyond what the 2-core
#    machine can afford. Both stop at DEADLINE seconds after the start.
# Everything is logged under OUTDIR with timestamps.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUTDIR="$1"
STEPS="${2:-8000}"
LONG_STEPS="${3:-24000}"
DEADLINE="${DEADLINE:-480}"  # seconds: runs still going then are stopped, so the summary still prints
WORK="$(mktemp -d)"  # configs and the long run's model; OUTDIR holds at most 8 files
mkdir -p "$OUTDIR"
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
DATA="${SEEDFORGE_DATA:?set SEEDFORGE_DATA}"
export SEEDFORGE_DATA="$DATA"

stamp "machine: $(nproc) cores; $(nvidia-smi -L 2>&1 | head -1); $(g++ --version 2>&1 | head -1); $(cmake --version | head -1)"
BUILD=build-cuda
export CMAKE_POLICY_VERSION_MINIMUM=3.5  # CMake 4 refuses older package config files without it
if ! KEEP_GOING=1 JOBS=$(nproc) bash scripts/build-pip-torch.sh "$BUILD" stage1 test_trainer_cuda test_trainer test_bit_linear \
     > "$OUTDIR/build.log" 2>&1; then
  grep -E "error:|CMake Error|undefined reference" -A2 "$OUTDIR/build.log" | head -80
  tail -30 "$OUTDIR/build.log"
  stamp "build failed"
  exit 1
fi
stamp "built"
export LD_LIBRARY_PATH="$(cd "${DEPS_PREFIX:-.}" && pwd)/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
STAGE1="$BUILD/tools/stage1/stage1"
MODEL="$DATA/models/stories260K/stories260K.bin"

# The GPU runs start first (they take longest), the tests run beside them.
python3 - "$STEPS" > "$WORK/cuda.json" <<'PY'
import json, sys
c = json.load(open("configs/stories260K.json"))
c["bitnet"]["max_steps"] = int(sys.argv[1])
c["bitnet"].pop("checkpoint_dir", None); c["bitnet"]["checkpoint_every"] = 0
# One process on the one GPU, with the demo's global batch (2 ranks x batch 4).
c["bitnet"]["grad_accum"] = c["bitnet"]["grad_accum"] * c.get("hardware", {}).get("processes", 1)
c["hardware"] = {"device": "cuda", "threads": 1}
print(json.dumps(c))
PY
python3 - "$LONG_STEPS" > "$WORK/long.json" <<'PY'
import json, sys
c = json.load(open("configs/stories260K.json"))
n = int(sys.argv[1])
c["bitnet"].update(max_steps=n, eval_every=n // 8, checkpoint_every=0)
c["bitnet"].pop("checkpoint_dir", None)
c["bitnet"]["grad_accum"] = c["bitnet"]["grad_accum"] * c.get("hardware", {}).get("processes", 1)
c["hardware"] = {"device": "cuda", "threads": 1}
print(json.dumps(c))
PY
TIME=(); [ -x /usr/bin/time ] && TIME=(/usr/bin/time -v)
left() { echo $(( DEADLINE - ($(date +%s) - t0) )); }
( timeout "$(left)" "${TIME[@]}" "$STAGE1" --input "$MODEL" --output "$OUTDIR/stories260K.cuda.stage1.pt" --config "$WORK/cuda.json" \
    > "$OUTDIR/stage1_cuda.log" 2>&1; echo "exit $?" >> "$OUTDIR/stage1_cuda.log" ) &
( timeout "$(left)" "$STAGE1" finetune --input "$MODEL" --train "$DATA/text/tinystories/train.txt" --valid "$DATA/text/tinystories/valid.txt" \
    --output "$WORK/long.pt" --config "$WORK/long.json" > "$OUTDIR/finetune_long.log" 2>&1;
  echo "exit $?" >> "$OUTDIR/finetune_long.log" ) &

timeout 240 "$BUILD/tests/train/test_trainer_cuda" > "$OUTDIR/test_trainer_cuda.log" 2>&1
stamp "test_trainer_cuda exit $?"; grep -E "^\[  (PASSED|FAILED|SKIPPED) |peak CUDA|Failure|Expected|Which is" "$OUTDIR/test_trainer_cuda.log" | head -30
timeout 60 "$BUILD/tests/train/test_bit_linear" > "$OUTDIR/tests_cpu.log" 2>&1; stamp "test_bit_linear (CPU, pip libtorch) exit $?"
timeout 120 "$BUILD/tests/train/test_trainer" >> "$OUTDIR/tests_cpu.log" 2>&1; stamp "test_trainer (CPU, pip libtorch) exit $?"
grep -E "^\[  (PASSED|FAILED) " "$OUTDIR/tests_cpu.log"
wait
stamp "GPU runs done"
grep -E "memory estimate|fine-tuning|tokens/s|retention|top-1|ratio|exit|Maximum resident|Elapsed|User time|System time" "$OUTDIR/stage1_cuda.log" | tail -25
grep -E "memory estimate|valid|top-1|tokens/s|exit" "$OUTDIR/finetune_long.log" | tail -25
