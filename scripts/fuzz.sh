#!/usr/bin/env bash
# Builds and runs seedforge's libFuzzer targets (fuzz/, one per reader of
# outside bytes) with clang, ASan and UBSan, in build-fuzz/.
#
#   scripts/fuzz.sh [--seconds N] [TARGET ...]   fuzz each target N seconds (default 60)
#   scripts/fuzz.sh --ci                         CI: replay the committed regression
#                                                inputs and the seeds, then fuzz each
#                                                target briefly (FUZZ_CI_SECONDS, default 4)
#   scripts/fuzz.sh --build-only                 configure and build, run nothing
#
# Seed corpora are rebuilt on every run: fuzz/make_seeds (files made with
# seedforge's own writers), the real files of the data folder (SEEDFORGE_DATA,
# default ../shared/data; never committed), a tiny SentencePiece model trained
# with spm_train on its text, the configs/ folder, and fuzz/seeds/<target>.
# Inputs that once crashed a target live in fuzz/regressions/<target>/ and are
# replayed with the seeds before any mutation; a failing replay fails the run.
#
# Outside CI each target's corpus grows in build-fuzz/fuzz-corpus/<target>
# across runs. Crashes are written to build-fuzz/fuzz-crashes/<target>/; the
# script prints, per target, the executions, seconds and crashes, and exits 1
# when any target crashed. FUZZ_JOBS (default 2) sets build parallelism,
# FUZZ_PARALLEL how many targets run at once (default 1; 2 with --ci).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${FUZZ_BUILD:-$ROOT/build-fuzz}
DATA=${SEEDFORGE_DATA:-$ROOT/../shared/data}
JOBS=${FUZZ_JOBS:-2}
SECONDS_PER_TARGET=60
CI_SECONDS=${FUZZ_CI_SECONDS:-4}
MODE=fuzz
ALL_TARGETS=(fuzz_zip_archive fuzz_pickle fuzz_pt_file fuzz_safetensors fuzz_hf_folder fuzz_llama2c
             fuzz_llama2c_tokenizer fuzz_tokenizer_json fuzz_gpt2_bpe fuzz_sentencepiece
             fuzz_stage1_config fuzz_hf_config fuzz_stage1_file fuzz_infer_model fuzz_gguf)
TARGETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --ci) MODE=ci ;;
    --build-only) MODE=build ;;
    --seconds) SECONDS_PER_TARGET=$2; shift ;;
    --seconds=*) SECONDS_PER_TARGET=${1#*=} ;;
    fuzz_*) TARGETS+=("$1") ;;
    *) echo "usage: $0 [--ci | --build-only | --seconds N] [TARGET ...]" >&2; exit 2 ;;
  esac
  shift
done
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL_TARGETS[@]}")

# --- build -----------------------------------------------------------------
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DSEEDFORGE_FUZZ=ON \
    -DSEEDFORGE_BUILD_TESTS=OFF -DSEEDFORGE_BUILD_BENCH=OFF > /dev/null
fi
build_start=$(date +%s)
cmake --build "$BUILD" -j "$JOBS" --target make_seeds "${TARGETS[@]}"
echo "fuzz build: $(( $(date +%s) - build_start )) s"
[ "$MODE" = build ] && exit 0

after_build=$(date +%s)

# --- seed corpora ------------------------------------------------------------
SEEDS=$BUILD/fuzz-seeds
rm -rf "$SEEDS"
if [ -d "$DATA" ]; then
  "$BUILD/fuzz/make_seeds" "$SEEDS" "$DATA"
else
  echo "note: no data folder at $DATA: seeds from make_seeds and fuzz/seeds only"
  "$BUILD/fuzz/make_seeds" "$SEEDS"
fi
seed_file() {  # seed_file TARGET FILE: copies FILE into TARGET's seeds when present
  [ -f "$2" ] || return 0
  mkdir -p "$SEEDS/$1" && cp "$2" "$SEEDS/$1/"
}
seed_file fuzz_llama2c "$DATA/models/stories260K/stories260K.bin"
seed_file fuzz_llama2c_tokenizer "$DATA/models/stories260K/tok512.bin"
seed_file fuzz_sentencepiece "$DATA/tokenizers/llama2/tokenizer.model"
for f in "$ROOT"/configs/*.json; do seed_file fuzz_stage1_config "$f"; done
# A SentencePiece model small enough to keep executions fast (the Llama 2 one
# holds 32,000 pieces), one per model type, when spm_train is installed.
if command -v spm_train > /dev/null && [ -f "$DATA/text/tinystories/valid.txt" ]; then
  spm_tmp=$(mktemp -d)
  head -c 60000 "$DATA/text/tinystories/valid.txt" > "$spm_tmp/text.txt"
  for type in bpe unigram; do
    spm_train --input="$spm_tmp/text.txt" --model_prefix="$spm_tmp/$type" --vocab_size=512 --model_type=$type \
      --byte_fallback=true --minloglevel=2 > "$spm_tmp/log" 2>&1 && seed_file fuzz_sentencepiece "$spm_tmp/$type.model"
  done
  rm -rf "$spm_tmp"
fi
for t in "${TARGETS[@]}"; do
  mkdir -p "$SEEDS/$t"
  [ -d "$ROOT/fuzz/seeds/$t" ] && cp "$ROOT/fuzz/seeds/$t"/* "$SEEDS/$t/"
done

# --- run -------------------------------------------------------------------------
# -rss_limit_mb: readers must refuse sizes they cannot back with the file, so a
# few hundred MB is plenty; -timeout: one input taking seconds is a hang.
# Committed regression inputs and the seeds are part of the corpus, which
# libFuzzer runs in full before it mutates anything: a regression that comes
# back fails the target at once.
FLAGS=(-rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -print_funcs=0)
mkdir -p "$BUILD/fuzz-logs"

run_target() {  # run_target TARGET: fuzzes it, writes TARGET.result (one summary line)
  local t=$1 bin=$BUILD/fuzz/$1 crashes=$BUILD/fuzz-crashes/$1 regressions=$ROOT/fuzz/regressions/$1
  local log=$BUILD/fuzz-logs/$1.log corpus seconds rc=0 before found took start execs
  mkdir -p "$crashes"
  if [ "$MODE" = ci ]; then
    corpus=$(mktemp -d)
    seconds=$CI_SECONDS
  else
    corpus=$BUILD/fuzz-corpus/$t
    mkdir -p "$corpus"
    seconds=$SECONDS_PER_TARGET
  fi
  local dirs=("$corpus" "$SEEDS/$t")
  [ -d "$regressions" ] && dirs+=("$regressions")
  before=$(find "$crashes" -type f | wc -l)
  start=$(date +%s)
  # The target's scratch files go under a folder removed here: libFuzzer's
  # time limit ends the process with _Exit, past the target's own clean-up.
  local scratch
  scratch=$(mktemp -d -p "$( [ -d /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")" seedforge_fuzz_run.XXXXXX)
  SEEDFORGE_FUZZ_SCRATCH=$scratch "$bin" "${FLAGS[@]}" -max_total_time="$seconds" -artifact_prefix="$crashes/" "${dirs[@]}" > "$log" 2>&1 || rc=$?
  rm -rf "$scratch"
  took=$(( $(date +%s) - start ))
  [ "$MODE" = ci ] && rm -rf "$corpus"
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
  found=$(( $(find "$crashes" -type f | wc -l) - before ))
  local line
  line=$(printf '%-24s %10s execs %5s s %3s crashes' "$t" "${execs:-?}" "$took" "$found")
  if [ "$rc" -ne 0 ] || [ "$found" -gt 0 ]; then
    line+="  FAILED: $(grep -m1 -E '^==[0-9]+==ERROR|runtime error|deadly signal|terminate called|timeout after|out-of-memory' "$log" | cut -c1-160 || true)"
  fi
  echo "$line" > "$BUILD/fuzz-logs/$t.result"
}

# Targets run -j1 by default (the cores are shared with builds); CI runs two
# at a time, one per core, to keep the step short.
PARALLEL=${FUZZ_PARALLEL:-1}
[ "$MODE" = ci ] && PARALLEL=${FUZZ_PARALLEL:-2}
step_start=$(date +%s)
for t in "${TARGETS[@]}"; do
  rm -f "$BUILD/fuzz-logs/$t.result"
  while [ "$(jobs -rp | wc -l)" -ge "$PARALLEL" ]; do wait -n || true; done
  run_target "$t" &
done
wait

echo
echo "fuzzing ($MODE): seeds $(( step_start - after_build )) s, targets $(( $(date +%s) - step_start )) s:"
failed=0
for t in "${TARGETS[@]}"; do
  result=$(cat "$BUILD/fuzz-logs/$t.result" 2>/dev/null || echo "$t: no result (see $BUILD/fuzz-logs/$t.log)")
  echo "  $result"
  case "$result" in *FAILED*|*"no result"*) failed=1 ;; esac
done
[ "$failed" -eq 0 ] || { echo "crashes in $BUILD/fuzz-crashes, logs in $BUILD/fuzz-logs"; exit 1; }
