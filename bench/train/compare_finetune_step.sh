#!/bin/bash
# Tokens/s and CPU time of one BitNet fine-tuning step: C++ (bench_finetune_step)
# against Python PyTorch (finetune_step_pytorch.py, natural and --fused), same
# machine, same libtorch, same threads. Runs each ROUNDS times, interleaved, so
# that other load on the machine affects all alike; each run under /usr/bin/time -v.
#
#   bench/train/compare_finetune_step.sh BUILD_DIR [THREADS=1] [ROUNDS=3] [STEPS=20] [GROUP=0]
# GROUP 32 = one fp16 weight scale per row and 32 columns (configs/stories260K.json),
# 0 = one fp32 scale per row.
# (Python times STEPS steps after 3 warm-up steps; Google Benchmark runs the C++
# step for at least 5 s after 2 warm-up steps, about 25-40 steps.)
# Output: one line per run (JSON from the Python script, Google Benchmark's
# counters for C++) and the /usr/bin/time user/sys/wall of each process, in
# $OUT_DIR (default ./finetune_step_compare).
set -euo pipefail
build=${1:?usage: compare_finetune_step.sh BUILD_DIR [THREADS] [ROUNDS] [STEPS] [GROUP]}
threads=${2:-1}
rounds=${3:-3}
steps=${4:-20}
group=${5:-0}
py_scales=(--row 1)
[[ $group != 0 ]] && py_scales+=(--group "$group" --fp16-scales)
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT_DIR:-./finetune_step_compare}
mkdir -p "$out"
export SEEDFORGE_DATA=${SEEDFORGE_DATA:-$here/../../../shared/data}
# Passive OpenMP waiting: on a shared machine, spinning workers of an
# oversubscribed pool cost far more than they save (both sides alike).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
python=/usr/bin/python3
for round in $(seq 1 "$rounds"); do
  for impl in cpp cpp-gemm python python-fused; do
    log="$out/$impl.$round.time"
    case $impl in
      cpp) cmd=("$build/bench/train/bench_finetune_step" "--benchmark_filter=B:8/T:256/kd:1/abits:8/row:1/kern:1/group:$group/" "--benchmark_format=json") ;;
      cpp-gemm) cmd=("$build/bench/train/bench_finetune_step" "--benchmark_filter=B:8/T:256/kd:1/abits:8/row:1/kern:0/group:$group/" "--benchmark_format=json") ;;
      python) cmd=("$python" "$here/finetune_step_pytorch.py" --threads "$threads" --steps "$steps" "${py_scales[@]}") ;;
      python-fused) cmd=("$python" "$here/finetune_step_pytorch.py" --threads "$threads" --steps "$steps" "${py_scales[@]}" --fused) ;;
    esac
    SEEDFORGE_THREADS=$threads /usr/bin/time -v "${cmd[@]}" > "$out/$impl.$round.out" 2> "$log"
    wall=$(grep "Elapsed (wall" "$log" | awk '{print $NF}')
    user=$(grep "User time" "$log" | awk '{print $NF}')
    sys=$(grep "System time" "$log" | awk '{print $NF}')
    if [[ $impl == cpp* ]]; then
      line=$($python -c "import json,sys; b=json.load(open(sys.argv[1]))['benchmarks'][0]; print('tokens/s %.0f ms/step %.1f user_s/step %.3f sys_s/step %.3f' % (b['tokens/s'], b['real_time'], b['user_s/step'], b['sys_s/step']))" "$out/$impl.$round.out")
    else
      line=$($python -c "import json,sys; j=json.loads(open(sys.argv[1]).read()); print('tokens/s %.0f ms/step %.1f user_s/step %.3f sys_s/step %.3f' % (j['tokens_per_s'], j['ms_per_step'], j['user_s_per_step'], j['sys_s_per_step']))" "$out/$impl.$round.out")
    fi
    echo "round $round $impl: $line | process user ${user}s sys ${sys}s wall $wall"
  done
done
