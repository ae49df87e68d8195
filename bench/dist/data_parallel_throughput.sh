#!/bin/bash
# Data-parallel fine-tuning throughput on this machine: `stage1 finetune` of
# stories260K with the shipped config (configs/stories260K.json), one thread
# per process, as 1 process and as 2 ranks (--nproc 2, Gloo over loopback):
#   1 rank  x batch 8            the shipped run
#   2 ranks x batch 4            the same global batch (8 windows a step), with
#                                the gradient all-reduce after backward (bucket 0)
#                                and in buckets of 0.25 MB (the default) and
#                                0.0625 MB overlapping backward
#   2 ranks x batch 8            twice the global batch (each rank the work of the 1-rank run)
# Each run does STEPS optimizer steps; the set is repeated ROUNDS times,
# interleaved, so that other load on the machine hits all alike. Prints one
# line per run: global tokens/s of the training steps (all ranks together),
# and for 2 ranks the gradient all-reduce per step (bytes, buckets, the
# milliseconds a step waits for it after backward, their share of the step
# time). A benchmark figure, not a test.
#
#   bench/dist/data_parallel_throughput.sh BUILD_DIR [STEPS=300] [ROUNDS=2]
set -euo pipefail
build=${1:?usage: data_parallel_throughput.sh BUILD_DIR [STEPS] [ROUNDS]}
steps=${2:-300}
rounds=${3:-2}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export SEEDFORGE_DATA=${SEEDFORGE_DATA:-$root/../shared/data}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
stage1=$build/tools/stage1/stage1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The shipped config with another batch size, gradient bucket size and a
# checkpoint folder of its own; --nproc alone sets the ranks.
config() {  # batch name [bucket_mb]
  /usr/bin/python3 - "$root/configs/stories260K.json" "$1" "$work/ckpt-$2" "${3:-}" > "$work/$2.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["bitnet"]["batch_size"] = int(sys.argv[2])
c["bitnet"]["checkpoint_every"] = 0
c["bitnet"]["checkpoint_dir"] = sys.argv[3]
c.setdefault("hardware", {})["processes"] = 1  # a run without --nproc is one process
if sys.argv[4]:
    c.setdefault("hardware", {})["dist_bucket_mb"] = float(sys.argv[4])
print(json.dumps(c))
PY
}
config 8 b8
config 4 b4
config 4 b4-after 0
config 4 b4-small 0.0625

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "stage1 finetune, configs/stories260K.json, $steps steps, --threads 1 per process"
printf '%-30s %12s %14s %8s %12s %10s\n' run tokens/s allreduce_B/step buckets wait_ms/step share
run() {  # label nproc config
  local label=$1 nproc=$2 cfg=$3 extra=""
  [ "$nproc" -gt 1 ] && extra="--nproc $nproc"
  "$stage1" --threads 1 $extra finetune --input "$SEEDFORGE_DATA/models/stories260K/stories260K.bin" \
    --output "$work/out.pt" --config "$work/$cfg.json" --max-steps "$steps" --json 2> "$work/log" > "$work/out.json" ||
    { cat "$work/log"; exit 1; }
  /usr/bin/python3 - "$label" "$work/out.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[2]))
a = j.get("all_reduce")
if a:
    calls = max(a["calls"], 1)
    print("%-30s %12.0f %14.0f %8.1f %12.3f %9.1f%%" % (sys.argv[1], j["tokens_per_second"], a["bytes"] / calls,
          a["buckets"] / calls, a["seconds"] / calls * 1e3, 100.0 * a["seconds"] / j["train_seconds"]))
else:
    print("%-30s %12.0f %14s %8s %12s %10s" % (sys.argv[1], j["tokens_per_second"], "-", "-", "-", "-"))
PY
}
for r in $(seq "$rounds"); do
  run "1 rank x 8" 1 b8
  run "2 ranks x 4, after backward" 2 b4-after
  run "2 ranks x 4, 0.25 MB buckets" 2 b4
  run "2 ranks x 4, 0.0625 MB buckets" 2 b4-small
  run "2 ranks x 8" 2 b8
done
