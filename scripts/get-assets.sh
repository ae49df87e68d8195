#!/usr/bin/env bash
# Puts the shared data (model, tokenizer, texts) in ${SEEDFORGE_DATA:-../shared/data}
# and checks the sha256 sums of ../shared/data/README.md.
#   scripts/get-assets.sh           copy or download what is missing, then check
#   scripts/get-assets.sh --check   only check (exit 1 on a missing or bad file)
# Downloads come from the files' public homes; the text sets are derived files
# (the first paragraphs of TinyStories validation, WikiText-2 raw test with
# blank lines dropped) rebuilt from their sources by the commands below.
set -euo pipefail
DATA="${SEEDFORGE_DATA:-$(cd "$(dirname "$0")/.." && pwd)/../shared/data}"
CHECK_ONLY=0
[ "${1:-}" = "--check" ] && CHECK_ONLY=1

# path sha256 url
ASSETS=(
  "models/stories260K/stories260K.bin b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696 https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K/stories260K.bin"
  "models/stories260K/tok512.bin 037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312 https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K/tok512.bin"
  "text/tinystories/train.txt 270ed013524e000d781be4edb48df58bc1f0cf881536932fbe237b8446b25f92 derived:tinystories:0:3000"
  "text/tinystories/valid.txt f004d61e7ec12b370c08f7b6c9e9c25c353e81cbebc402e38514a16b7d0f9f3b derived:tinystories:3000:3800"
  "text/wikitext-2/wiki.test.raw bbf94c53a05abe9ee670d3b6343608095822c85e26de37c70b24fc571964574a derived:wikitext2"
  "hellaswag/hellaswag_val_sample.jsonl aaa25c4ec6c6766a6072a1c7afe646166493051a8eccfc83eaf077fcab683aad derived:hellaswag"
)
TINYSTORIES_URL=https://huggingface.co/datasets/roneneldan/TinyStories/resolve/main/TinyStoriesV2-GPT4-valid.txt
WIKITEXT_URL=https://huggingface.co/datasets/Salesforce/wikitext/resolve/main/wikitext-2-raw-v1/test-00000-of-00001.parquet
HELLASWAG_URL=https://raw.githubusercontent.com/rowanz/hellaswag/master/data/hellaswag_val.jsonl

fetch() {  # fetch URL DEST
  if command -v curl > /dev/null; then curl -fsSL "$1" -o "$2"; else wget -q "$1" -O "$2"; fi
}

bad=0
for entry in "${ASSETS[@]}"; do
  read -r rel sum src <<< "$entry"
  dest="$DATA/$rel"
  if [ ! -f "$dest" ] && [ "$CHECK_ONLY" = 0 ]; then
    mkdir -p "$(dirname "$dest")"
    case "$src" in
      http*) echo "downloading $rel"; fetch "$src" "$dest" ;;
      derived:tinystories:*)
        IFS=: read -r _ _ from to <<< "$src"
        tmp=$(mktemp); fetch "$TINYSTORIES_URL" "$tmp"
        # stories are separated by <|endoftext|>; paragraphs by blank lines
        python3 - "$tmp" "$dest" "$from" "$to" <<'PY'
import sys
text = open(sys.argv[1], encoding="utf-8").read().replace("<|endoftext|>", "\n\n")
paras = [p.strip() for p in text.split("\n\n") if p.strip()]
a, b = int(sys.argv[3]), int(sys.argv[4])
open(sys.argv[2], "w", encoding="utf-8").write("\n\n".join(paras[a:b]) + "\n")
PY
        rm -f "$tmp" ;;
      derived:*) echo "$rel: fetch it by hand from its public home (see ../shared/data/README.md); URLs: $WIKITEXT_URL $HELLASWAG_URL" ;;
    esac
  fi
  if [ ! -f "$dest" ]; then
    echo "MISSING $dest"; bad=1; continue
  fi
  got=$(sha256sum "$dest" | cut -d' ' -f1)
  if [ "$got" != "$sum" ]; then
    echo "BAD SUM $dest: expected $sum, got $got"; bad=1
  fi
done
[ "$bad" = 0 ] && echo "assets ok in $DATA"
exit "$bad"
