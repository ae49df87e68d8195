# Two entry points for a fresh Debian machine (see README):
#   make demo   install dependencies, build, run Stage 1 on stories260K
#   make test   install dependencies, build, run the test suite
# Everything else is plain CMake in build/.
BUILD ?= build
JOBS ?= $(shell nproc)
SEEDFORGE_DATA ?= $(abspath ../shared/data)
export SEEDFORGE_DATA
# OpenMP threads that spin while waiting steal cores from everything else on a
# 2-core machine (measured: fine-tuning 10x slower next to a build); passive waiting costs
# little when the machine is idle.
OMP_WAIT_POLICY ?= PASSIVE
export OMP_WAIT_POLICY
CMAKE_FLAGS ?=

.PHONY: deps configure build demo test test-all bench fuzz fuzz-ci clean

deps:
	@bash scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) > /dev/null
	@# The GPT-2 tokenizer test compares with the npm package gpt-3-encoder when
	@# it is present (else with ids stored in tests/tokenizer/data).
	@if command -v npm > /dev/null && [ ! -d $(BUILD)/npm/node_modules/gpt-3-encoder ]; then \
	  npm install --silent --no-audit --no-fund --prefix $(BUILD)/npm gpt-3-encoder@1.1.4 > /dev/null 2>&1 || \
	  echo "note: npm install gpt-3-encoder failed; the GPT-2 test uses its stored reference ids"; fi
	@# llama.cpp's check of the GGUF export (tests/gguf) runs the npm package
	@# node-llama-cpp (a prebuilt llama.cpp); without it that test is skipped.
	@if command -v npm > /dev/null && [ ! -d $(BUILD)/npm/node_modules/node-llama-cpp ]; then \
	  npm install --silent --no-audit --no-fund -E --prefix $(BUILD)/npm node-llama-cpp@3.21.1 > /dev/null 2>&1 || \
	  echo "note: npm install node-llama-cpp failed; llama.cpp's check of the GGUF export is skipped"; fi

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	@bash scripts/get-assets.sh --check
	@mkdir -p out
	$(BUILD)/tools/stage1/stage1 --input $(SEEDFORGE_DATA)/models/stories260K/stories260K.bin \
	  --output out/stories260K.stage1.pt --config configs/stories260K.json

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE 'slow|gpu'

test-all: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE gpu

bench: build
	@for b in $(BUILD)/bench/*/bench_*; do [ -x "$$b" ] && "$$b"; done

# libFuzzer targets (clang, ASan + UBSan) in build-fuzz/: FUZZ_SECONDS per
# target; fuzz-ci replays the regression inputs and fuzzes each briefly.
FUZZ_SECONDS ?= 60
fuzz: deps
	@bash scripts/fuzz.sh --seconds $(FUZZ_SECONDS)

fuzz-ci: deps
	@bash scripts/fuzz.sh --ci

clean:
	rm -rf $(BUILD)
