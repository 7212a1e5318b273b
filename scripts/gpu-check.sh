#!/usr/bin/env bash
# The prepared GPU check of issue 6: run it, as is, on a machine with an
# NVIDIA GPU (a session's `device` machine), and read the report it writes.
#
#   bash scripts/gpu-check.sh [--build DIR] [--out DIR] [--budget SECONDS]
#                             [--no-examples] [--no-kernels]
#                             [--bundle FILE]
#
# --bundle FILE: use the tools, example binaries, libraries and data packed
# here by scripts/gpu-bundle.sh instead of building (for GPU machines without
# the Debian toolchain, e.g. the `device` tool's: carry .gpu/bundle.tar.xz);
# phase 2 unpacks it and phase 4 runs the test binaries directly.
#
# Phases, most important first, each under a time limit so that the report is
# always written (default budget 540 s, sized for an H100 machine with 16
# cores; the slowest phase is the first build):
#   1. nvidia-smi and the driver probe (test/gpu/probe.cpp: the device, its
#      fp32 peak from its SM count and clock);
#   2. configure + build (BUILD, default build-gpu/) of mtlc, the runtime, the
#      GPU tests and the kernel benchmark, ninja -j$(nproc);
#   3. the reference spec built with --target=cuda (compile time, kernels,
#      GFLOP per step) and `./fashion_detect bench` on the GPU: ms/step and %
#      of the fp32 peak;
#   4. ctest -L 'gpu|cuda': GPU == CPU for every example's train step (1e-3
#      relative; every gradient), fused == unfused on the GPU, a directional
#      derivative against central differences on the GPU, PTX for every
#      kernel, and each example trained a few steps on the GPU (--no-examples
#      leaves those out);
#   5. mtl-bench-kernels --target=cuda --heavy-only: the largest kernels' time
#      and % of the GPU's fp32 peak (--no-kernels leaves it out).
# Writes OUT/report.md (default out/gpu-check/) and prints it; logs of every
# phase beside it. Exit status: 0 when every phase passed, 3 when there is no
# GPU (only the build and the PTX tests ran), 1 when something failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-gpu
out=$root/out/gpu-check
budget=540
examples=1
kernels=1
bundle=
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --budget) budget=$2; shift 2 ;;
    --no-examples) examples=0; shift ;;
    --no-kernels) kernels=0; shift ;;
    --bundle) bundle=$2; shift 2 ;;
    -h|--help) sed -n '2,34p' "$0"; exit 0 ;;
    *) echo "gpu-check.sh: error: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
if [ -n "$bundle" ] && [ ! -f "$bundle" ]; then
  echo "gpu-check.sh: error: --bundle $bundle: no such file (bash scripts/gpu-bundle.sh writes .gpu/bundle.tar.xz)" >&2
  exit 2
fi
mkdir -p "$out"
report=$out/report.md
jobs=$(nproc)
t0=$(date +%s)
status=0
elapsed() { echo $(( $(date +%s) - t0 )); }
left() { echo $(( budget - $(elapsed) )); }
log() { echo "gpu-check [$(elapsed) s]: $*" >&2; }
say() { echo "$*" >> "$report"; }
fail() { status=1; say "- **FAILED**: $*"; log "FAILED: $*"; }

{
  echo "# GPU check ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
  echo
  echo "\`scripts/gpu-check.sh\` on $(hostname), $(nproc) CPU cores;" \
       "commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')" \
       "$(git -C "$root" diff --quiet 2>/dev/null || echo '(with uncommitted changes)')."
  echo
} > "$report"

# 1. The GPU.
say "## Device"
say
if command -v nvidia-smi >/dev/null; then
  nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true
  q=$(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit \
        --format=csv,noheader 2>/dev/null | head -1)
  say "- nvidia-smi: ${q:-(query failed; see nvidia-smi.txt)}"
else
  say "- nvidia-smi: not found"
fi

# 2. Build (or unpack the prebuilt bundle).
say
say "## Build"
say
if [ -n "$bundle" ]; then
  log "unpacking $bundle"
  start=$(date +%s)
  b=$out/bundle
  rm -rf "$b" && mkdir -p "$b"
  if ! tar -C "$b" -xJf "$bundle" > "$out/bundle.log" 2>&1; then
    fail "unpacking $bundle (bundle.log)"; cat "$report"; exit 1
  fi
  export LD_LIBRARY_PATH=$b/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export MTL_SOURCE_DIR=$root MTL_DATA_DIR=$b/data MTL_PREBUILT_MODELS=$b/models
  bin=$b/bin
  probe=$bin/mtl-gpu-probe
  say "- prebuilt bundle $(basename "$bundle") ($(( $(stat -c %s "$bundle") / 1048576 )) MiB, packed from commit $(cat "$b/COMMIT" 2>/dev/null || echo '?')) unpacked in $(( $(date +%s) - start )) s; models built with --target=cuda on the packing machine"
else
  log "configure + build in $build ($jobs jobs)"
  start=$(date +%s)
  if [ ! -f "$build/build.ninja" ]; then
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      > "$out/configure.log" 2>&1 || fail "cmake (configure.log)"
  fi
  if timeout $(( $(left) > 60 ? $(left) - 60 : 60 )) \
      ninja -C "$build" -j"$jobs" mtlc mtlrt gpu_tests ptx_tests mtl-gpu-probe \
      mtl-bench-kernels > "$out/build.log" 2>&1; then
    say "- built in $(( $(date +%s) - start )) s (mtlc, runtime, gpu_tests, ptx_tests, mtl-bench-kernels)"
  else
    fail "build (build.log, last lines below)"
    say '```'; tail -20 "$out/build.log" >> "$report"; say '```'
    cat "$report"; exit 1
  fi
  bin=$build/bin
  probe=$build/test/gpu/mtl-gpu-probe
fi
gpu=1
"$probe" > "$out/probe.txt" 2>&1 || gpu=0
say "- driver probe: $(tr '\n' ';' < "$out/probe.txt" | sed 's/;$//')"
peak=$(sed -n 's/^fp32 peak: \([0-9.]*\) GFLOP.*/\1/p' "$out/probe.txt")

# 3. The reference step on the GPU.
say
say "## Reference training step on the GPU (examples/fashion_detect.toml, batch 128, fp32)"
say
if [ "$gpu" = 1 ] && [ "$(left)" -gt 120 ]; then
  ref=$out/reference
  mkdir -p "$ref"
  start=$(date +%s)
  if [ -n "$bundle" ]; then
    cp "$b/models/fashion_detect" "$b/models/fashion_detect.build.log" "$ref/" &&
      mv "$ref/fashion_detect.build.log" "$ref/build.log"
    built=$?
    secs="(prebuilt: $(awk '/Halide AOT compile/ {print $(NF-1)}' "$ref/build.log") s of Halide compile on the packing machine)"
  else
    log "mtlc build --target=cuda examples/fashion_detect.toml"
    timeout $(( $(left) - 60 )) "$bin/mtlc" build "$root/examples/fashion_detect.toml" \
      --target=cuda -v -o "$ref/fashion_detect" > "$ref/build.log" 2>&1
    built=$?
    secs=$(( $(date +%s) - start ))
  fi
  if [ "$built" = 0 ]; then
    gflop=$(awk '/mtlc: train_step/ { for (i = 1; i <= NF; ++i) if ($i == "GFLOP") print $(i-1) }' "$ref/build.log")
    say "- \`mtlc build --target=cuda\`: $secs s; train step $(awk '/mtlc: train_step/ {print $3}' "$ref/build.log") kernels, $gflop GFLOP"
    log "./fashion_detect bench on the GPU"
    if (cd "$ref" && timeout 120 ./fashion_detect bench --steps 30 --warmup 5) > "$ref/bench.txt" 2>&1; then
      ms=$(sed -n 's/^train_step: \([0-9.]*\) ms.*/\1/p' "$ref/bench.txt")
      say "- \`./fashion_detect bench --steps 30\`: $(cat "$ref/bench.txt")"
      if [ -n "$ms" ] && [ -n "$gflop" ] && [ -n "$peak" ]; then
        say "- $(awk -v g="$gflop" -v m="$ms" -v p="$peak" 'BEGIN { r = g / (m / 1e3); printf "%.0f GFLOP/s, %.2f%% of the fp32 peak (%.0f GFLOP/s); the step includes the runtime'"'"'s host-side Adam update and host<->device copies of parameters and gradients", r, 100 * r / p, p }')"
      fi
    else
      fail "./fashion_detect bench on the GPU (reference/bench.txt)"
      say '```'; tail -15 "$ref/bench.txt" >> "$report"; say '```'
    fi
  else
    fail "mtlc build --target=cuda (reference/build.log)"
    say '```'; tail -15 "$ref/build.log" >> "$report"; say '```'
  fi
else
  say "- not run: $( [ "$gpu" = 1 ] && echo "out of time" || echo "no GPU ($(cat "$out/probe.txt"))")"
fi

# 4. Tests.
say
say "## Tests ($([ -n "$bundle" ] && echo "the bundle's gpu_tests, ptx_tests and example runs" || echo "ctest -L 'gpu|cuda'"))"
say
filter=()
[ "$examples" = 1 ] || filter=(-E gpu_example_)
limit=$(( $(left) - 90 ))
if [ "$limit" -gt 60 ]; then
  if [ -n "$bundle" ]; then
    # No ctest tree here: every gtest case and example run is its own
    # process, all at once (each JIT compile is single-threaded).
    log "bundle: gpu_tests, ptx_tests and the example runs in parallel (limit ${limit} s)"
    tl=$out/tests
    rm -rf "$tl" && mkdir -p "$tl"
    pids=()
    for t in gpu_tests ptx_tests; do
      for c in $("$bin/$t" --gtest_list_tests | awk '/^[^ ]/ { s = $1 } /^  / { print s $1 }'); do
        timeout "$limit" "$bin/$t" --gtest_filter="$c" > "$tl/$t.${c//\//_}.log" 2>&1 &
        pids+=($!)
      done
    done
    if [ "$examples" = 1 ]; then
      for e in fashion_detect multi_fashion sequential_lstm vae; do
        timeout "$limit" bash "$root/test/gpu/train_gpu.sh" "$bin/mtlc" "$probe" \
          "$root/examples" "$e" "$tl/example_$e" > "$tl/gpu_example_$e.log" 2>&1 &
        pids+=($!)
      done
    fi
    rc=0
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    summary=$(for f in "$tl"/*.log; do
      n=$(basename "$f" .log)
      if grep -q '^\[  SKIPPED \]' "$f"; then r=Skipped
      elif grep -q '^\[  PASSED  \] 1 test' "$f" ||
          { [[ $n == gpu_example_* ]] && grep -q '^GPU: ' "$f"; }; then r=Passed
      else r=***Failed; fi
      echo "Test #: $n ... $r"
    done)
    n_all=$(grep -c '^Test #' <<< "$summary")
    n_fail=$(grep -c 'Failed$' <<< "$summary")
    { echo "$summary"
      echo "$(( n_all - n_fail )) of $n_all tests passed (one process each; logs in tests/)"
      cat "$tl"/*.log; } > "$out/ctest.log"
    [ "$n_fail" = 0 ] || rc=1
  else
    log "ctest -L 'gpu|cuda' -j$(( jobs / 2 > 1 ? jobs / 2 : 1 )) (limit ${limit} s)"
    (cd "$build" && timeout "$limit" ctest -L 'gpu|cuda' ${filter[@]+"${filter[@]}"} \
        -j$(( jobs / 2 > 1 ? jobs / 2 : 1 )) --output-on-failure --timeout "$limit") \
        > "$out/ctest.log" 2>&1
    rc=$?
  fi
  say '```'
  grep -E "tests passed|Test +#|^The following|Failed|Not Run|Skipped" "$out/ctest.log" \
    | sed -E 's/ +/ /g' | tail -40 >> "$report"
  say '```'
  [ "$rc" = 0 ] || fail "ctest exit $rc (ctest.log)"
  grep -E "GPU vs CPU: |all fusions vs none: |directional derivative: |kernels, .* stages|^GPU: " \
    "$out/ctest.log" | sed 's/^/    /' >> "$report" || true
else
  say "- not run: out of time"
fi

# 5. The largest kernels on the GPU.
say
say "## Largest kernels on the GPU (mtl-bench-kernels --target=cuda --heavy-only)"
say
if [ "$kernels" = 1 ] && [ "$gpu" = 1 ] && [ "$(left)" -gt 45 ]; then
  log "mtl-bench-kernels --target=cuda"
  if timeout $(( $(left) - 15 )) "$bin/mtl-bench-kernels" \
      "$root/examples/fashion_detect.toml" --target cuda --heavy-only --top 15 \
      --min-ms 50 > "$out/kernels.txt" 2> "$out/kernels.err"; then
    say '```'; cat "$out/kernels.txt" >> "$report"; say '```'
  else
    fail "mtl-bench-kernels --target=cuda (kernels.err)"
    say '```'; tail -10 "$out/kernels.err" >> "$report"; say '```'
  fi
else
  say "- not run: $( [ "$kernels" = 0 ] && echo "--no-kernels" || ([ "$gpu" = 1 ] && echo "out of time" || echo "no GPU"))"
fi

say
if [ "$gpu" = 0 ] && [ "$status" = 0 ]; then
  say "**No GPU here: the GPU phases did not run** (exit status 3)."
  status=3
fi
say "Total: $(elapsed) s; status: $(case $status in 0) echo ok ;; 3) echo "no GPU" ;; *) echo FAILED ;; esac). Logs: $out/."
cat "$report"
exit "$status"
