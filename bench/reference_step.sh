#!/usr/bin/env bash
# The reference training step side by side with PyTorch, in one run (issue 7).
#
#   bash bench/reference_step.sh [--threads N] [--build DIR] [--spec SPEC]
#                                [--steps N] [--torch-steps N] [--out DIR]
#                                [--no-torch] [--channels-last]
#                                [--torch-python PY]... [--pypi]
#
# 1. builds mtlc and mtl-peak if needed (BUILD, default build/);
# 2. compiles SPEC (default examples/fashion_detect.toml) with `mtlc build -v`
#    (compile time, and the train step's FLOP count from codegen/Flops.cpp);
# 3. measures the fp32 FMA peak on 1 and N threads (bench/peak.cpp);
# 4. runs `./model bench` (train step + Adam update, median ms/step) with
#    HL_NUM_THREADS=N;
# 5. runs bench/torch_step.py (the same network, batch and optimizer in
#    PyTorch eager; torch.compile too where torch >= 2) with
#    torch.set_num_threads(N), under /usr/bin/python3 (Debian's
#    python3-torch; MTL_TORCH_PYTHON overrides), then under each
#    --torch-python PY; --pypi adds PyPI's torch (MKL, oneDNN,
#    torch.compile) and JAX (jit, where the venv has it: pypi_peers.sh
#    --jax) from the venv bench/pypi_peers.sh makes;
# 6. prints ms/step of both, the ratio, our GFLOP/s and % of the peak, and
#    writes OUT/reference_step.json.
# The numbers are only as good as the machine is idle: run it alone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
threads=2
build=$root/build
spec=$root/examples/fashion_detect.toml
steps=20
torch_steps=5
out=$root/out/bench/reference_step
torch=1
torch_flags=()
extra_pythons=()
pypi=0
while [ $# -gt 0 ]; do
  case $1 in
    --threads) threads=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --spec) spec=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --torch-steps) torch_steps=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-torch) torch=0; shift ;;
    --channels-last) torch_flags+=(--channels-last); shift ;;
    --torch-python) extra_pythons+=("$2"); shift 2 ;;
    --pypi) pypi=1; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "reference_step.sh: error: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
python=${MTL_TORCH_PYTHON:-/usr/bin/python3}
mkdir -p "$out"
spec=$(cd "$(dirname "$spec")" && pwd)/$(basename "$spec")
log() { echo "reference_step: $*" >&2; }
if [ "$pypi" = 1 ]; then
  if pypi_python=$(bash "$root/bench/pypi_peers.sh"); then
    extra_pythons+=("$pypi_python")
  else
    log "no PyPI peers (bench/pypi_peers.sh failed: no PyPI here?); timing the others"
  fi
fi

# 1. Build what is missing (ninja does nothing when up to date).
if [ ! -f "$build/build.ninja" ]; then
  log "configuring $build"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
log "building mtlc, mtl-peak, the runtime ($build)"
ninja -C "$build" mtlc mtl-peak mtlrt >/dev/null

# 2. Compile the spec.
name=$(basename "$spec" .toml)
log "mtlc build $spec"
start=$(date +%s%N)
"$build/bin/mtlc" build "$spec" -o "$out/$name" -v 2>"$out/build.log"
compile_s=$(( ($(date +%s%N) - start) / 1000000 ))e-3
gflop=$(awk '/mtlc: train_step/ { for (i = 1; i <= NF; ++i) if ($i == "GFLOP") print $(i-1) }' "$out/build.log")
ops=$(awk '/mtlc: train_step/ { print $3 }' "$out/build.log")

# 3. The FMA peak, 1 and N threads.
log "FMA peak"
peak_json=$("$build/bin/mtl-peak" --threads "1,$threads" --json)
peak() { echo "$peak_json" | "$python" -c "import json,sys; print(json.load(sys.stdin)['peaks'][$1]['gflops'])"; }
peak1=$(peak 0)
peakn=$(peak -1)

# 4. Our step.
log "./$name bench --steps $steps (HL_NUM_THREADS=$threads)"
bench_out=$(cd "$out" && HL_NUM_THREADS=$threads "./$name" bench --steps "$steps" --warmup 3)
bench_line=$(echo "$bench_out" | sed -n '/^train_step: /p')
ours_ms=$(echo "$bench_line" | sed -E 's/^train_step: ([0-9.]+) ms.*/\1/')
update_ms=$(echo "$bench_out" | sed -nE 's/.*optimizer update: ([0-9.]+) ms.*/\1/p')

# 5. The peers, under each python (JSON lines, one per framework run).
torch_json=""
peer() { # peer NAME PYTHON SCRIPT ARGS...: append its JSON line, or say why not
  local name=$1 py=$2 script=$3 one
  shift 3
  log "$name step ($py, $torch_steps steps)"
  if one=$("$py" "$root/bench/$script" --threads "$threads" \
      --steps "$torch_steps" --warmup 2 --json "$@"); then
    torch_json+="$one"$'\n'
  else
    log "bench/$script failed under $py"
  fi
}
if [ "$torch" = 1 ]; then
  for py in "$python" ${extra_pythons[@]+"${extra_pythons[@]}"}; do
    if "$py" -c 'import torch' 2>/dev/null; then
      peer PyTorch "$py" torch_step.py --compile ${torch_flags[@]+"${torch_flags[@]}"}
    else
      log "no torch importable from $py: not timed"
    fi
    # JAX where this python has it (bench/pypi_peers.sh --jax).
    if [ "$py" != "$python" ] && "$py" -c 'import jax' 2>/dev/null; then
      peer JAX "$py" jax_step.py
    fi
  done
fi

# 6. Summary (and JSON).
"$python" - "$out/reference_step.json" <<PY
import json, sys
ours = float("$ours_ms")
gflop = float("${gflop:-0}")
peak1, peakn = float("$peak1"), float("$peakn")
threads = $threads
torches = [json.loads(l) for l in '''$torch_json'''.splitlines() if l.strip()]
gflops = gflop / (ours / 1e3) if ours > 0 else 0
r = {"spec": "$spec", "threads": threads, "compile_s": round(float("$compile_s"), 1),
     "train_step_ops": int("${ops:-0}"), "gflop_per_step": gflop,
     "mtlc_ms_per_step": ours, "mtlc_update_ms": float("${update_ms:-0}"),
     "mtlc_gflops": gflops,
     "peak_gflops_1_thread": peak1, "peak_gflops": peakn,
     "percent_of_peak": 100 * gflops / peakn if peakn else 0,
     "mtlc_bench": "$bench_line",
     "torch": torches[0] if torches else None, "torch_runs": torches}
print(f"reference step: {r['spec']} (batch 128, fp32, {threads} threads)")
print(f"  mtlc build: {r['compile_s']:.1f} s; train step {gflop:.2f} GFLOP, "
      f"{r['train_step_ops']} ops")
print(f"  FMA peak: {peak1:.1f} GFLOP/s on 1 thread, {peakn:.1f} on {threads}")
print(f"  mtlc:          {ours:9.1f} ms/step  {gflops:6.1f} GFLOP/s  "
      f"{r['percent_of_peak']:.1f}% of the {threads}-thread peak "
      f"(optimizer update {r['mtlc_update_ms']:.1f} ms of it)")
for torch in torches:
    src = torch.get("source", "?")
    jax = torch.get("framework") == "jax"
    name = torch["torch"] if jax else f"torch {torch['torch']}"
    for v in torch["results"]:
        ratio = v["ms_per_step"] / ours
        key = "jax_" if jax else "torch_pypi_" if src.startswith("pip") else "torch_"
        r[f"speedup_vs_{key}{v['variant']}"] = ratio
        print(f"  {name} {v['variant']:7s} {v['ms_per_step']:9.1f} "
              f"ms/step  ({torch['layout']}, {torch['threads']} threads): "
              f"mtlc is {ratio:.2f}x faster")
    blas = torch.get("blas", "?")
    print(f"    ({src}; BLAS: {blas})")
    if blas.startswith("reference BLAS"):
        print("    (install libopenblas0-pthread for a fair peer: the reference "
              "BLAS is ~10x slower)")
    if torch.get("compile_note"):
        print(f"    ({torch['compile_note']})")
if not torches:
    print("  PyTorch: not timed")
json.dump(r, open(sys.argv[1], "w"), indent=2)
print(f"  (written to {sys.argv[1]})")
PY
