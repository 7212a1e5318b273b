# mtlc: `make demo` and `make test` each set up everything they need on a
# fresh Debian 12 machine (packages through scripts/install-deps.sh, then a
# CMake + Ninja build with ccache).
BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release

.PHONY: all deps configure build test demo docs format clean

all: build

deps:
	@bash scripts/install-deps.sh

configure: deps
	@test -f $(BUILD)/build.ninja || cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

build: configure
	ninja -C $(BUILD) -j$(JOBS)

# Every test: lit (compiler), GoogleTest (gradients, codegen, runtime) and
# the end-to-end training test.
test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

# Compile examples/fashion_detect.toml (the reference model), train it one
# epoch on fashion-detect data (bench/train_examples.sh trains fully), evaluate it
# on the 10k test canvases and print the per-task metrics.
demo: build
	bash scripts/demo.sh $(BUILD)

# Regenerate docs/dialect.md and docs/passes.md from the ODS.
docs: configure
	ninja -C $(BUILD) mtl-dialect-doc mtl-pass-doc

format:
	find frontend ir passes codegen runtime tools test -name '*.cpp' -o -name '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) out
