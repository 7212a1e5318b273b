#!/usr/bin/env bash
# The reference training step side by side with PyTorch, in one run (issue 7).
#
#   bash bench/reference_step.sh [--threads N] [--build DIR] [--spec SPEC]
#                                [--steps N] [--torch-steps N] [--out DIR]
#                                [--no-torch] [--channels-last]
#                                [--torch-python PY]... [--pypi]
#                                [--rounds R]
#
# 1. builds mtlc and mtl-peak if needed (BUILD, default build/);
# 2. compiles SPEC (default examples/fashion_detect.toml) with `mtlc build -v`
#    (compile time, and the train step's FLOP count from codegen/Flops.cpp);
# 3. measures the fp32 FMA peak on 1 and N threads (bench/peak.cpp), again
#    after step 5, and keeps the higher of the two;
# 4. runs `./model bench` (train step + Adam update, median ms/step) with
#    HL_NUM_THREADS=N;
#    (a SPEC other than the reference: examples/sequential_lstm.toml,
#    multi_fashion.toml or vae.toml, the other networks bench/torch_step.py
#    has);
# 5. runs bench/torch_step.py (the same network, batch and optimizer in
#    PyTorch eager; torch.compile too where torch >= 2) with
#    torch.set_num_threads(N), under /usr/bin/python3 (Debian's
#    python3-torch; MTL_TORCH_PYTHON overrides), then under each
#    --torch-python PY; --pypi adds PyPI's torch (MKL, oneDNN,
#    torch.compile) and JAX (jit, where the venv has it: pypi_peers.sh
#    --jax) from the venv bench/pypi_peers.sh makes;
#    (4 and 5 repeated R times, default 3, interleaved: mtlc, the peers,
#    mtlc, ...: a VM whose speed drifts between minutes slows both sides
#    of a round alike);
# 6. prints ms/step of both (the median over the rounds), the ratio (the
#    median of the rounds' ratios, and their range), our GFLOP/s and % of
#    the peak, and writes OUT/reference_step.json.
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
rounds=3
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
    --rounds) rounds=$2; shift 2 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "reference_step.sh: error: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
case $rounds in
  '' | *[!0-9]* | 0) echo "reference_step.sh: error: --rounds wants a positive integer, not '$rounds'" >&2; exit 2 ;;
esac
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

# 3. The FMA peak, 1 and N threads: measured before the rounds and again
# after them, the higher of the two kept (a neighbour on the VM during one
# measurement once gave 100.8 GFLOP/s on 2 threads against 99.5 on 1).
log "FMA peak"
peak_json=$("$build/bin/mtl-peak" --threads "1,$threads" --json)
peak() { echo "$peak_json" | "$python" -c "import json,sys; print(json.load(sys.stdin)['peaks'][$1]['gflops'])"; }
peak1=$(peak 0)
peakn=$(peak -1)

# 4 and 5, interleaved: per round our step, then each peer (JSON lines,
# one per framework run, each tagged with its round).
ours_list=()
update_list=()
bench_line=""
torch_json=""
peer() { # peer ROUND NAME PYTHON SCRIPT ARGS...: append its JSON line, or say why not
  local round=$1 name=$2 py=$3 script=$4 one
  shift 4
  log "round $round: $name step ($py, $torch_steps steps)"
  if one=$("$py" "$root/bench/$script" --threads "$threads" \
      --steps "$torch_steps" --warmup 2 --json "$@"); then
    torch_json+="$round	$one"$'\n'
  else
    log "bench/$script failed under $py"
  fi
}
for round in $(seq "$rounds"); do
  log "round $round: ./$name bench --steps $steps (HL_NUM_THREADS=$threads)"
  bench_out=$(cd "$out" && HL_NUM_THREADS=$threads "./$name" bench --steps "$steps" --warmup 3)
  bench_line=$(echo "$bench_out" | sed -n '/^train_step: /p')
  ours_list+=("$(echo "$bench_line" | sed -E 's/^train_step: ([0-9.]+) ms.*/\1/')")
  update_list+=("$(echo "$bench_out" | sed -nE 's/.*optimizer update: ([0-9.]+) ms.*/\1/p')")
  [ "$torch" = 1 ] || continue
  for py in "$python" ${extra_pythons[@]+"${extra_pythons[@]}"}; do
    if "$py" -c 'import torch' 2>/dev/null; then
      peer "$round" PyTorch "$py" torch_step.py --spec "$spec" --compile ${torch_flags[@]+"${torch_flags[@]}"}
    else
      log "no torch importable from $py: not timed"
    fi
    # JAX where this python has it (bench/pypi_peers.sh --jax).
    # (bench/jax_step.py has the reference network only.)
    if [ "$name" = fashion_detect ] && [ "$py" != "$python" ] &&
        "$py" -c 'import jax' 2>/dev/null; then
      peer "$round" JAX "$py" jax_step.py
    fi
  done
done

log "FMA peak, again"
peak_json=$("$build/bin/mtl-peak" --threads "1,$threads" --json)
peak1_after=$(peak 0)
peakn_after=$(peak -1)

# 6. Summary (and JSON).
"$python" - "$out/reference_step.json" <<PY
import json, statistics, sys
rounds_ms = [float(v) for v in "${ours_list[*]}".split()]
updates = [float(v) for v in "${update_list[*]}".split() if v]
ours = statistics.median(rounds_ms)
gflop = float("${gflop:-0}")
peaks_1, peaks_n = (float("$peak1"), float("$peak1_after")), (float("$peakn"), float("$peakn_after"))
peak1, peakn = max(peaks_1), max(peaks_n)
threads = $threads
# Each peer run: (round, its JSON), in the order they ran.
runs = []
for line in '''$torch_json'''.splitlines():
    if line.strip():
        rnd, one = line.split("\t", 1)
        runs.append((int(rnd), json.loads(one)))
gflops = gflop / (ours / 1e3) if ours > 0 else 0
r = {"spec": "$spec", "threads": threads, "compile_s": round(float("$compile_s"), 1),
     "train_step_ops": int("${ops:-0}"), "gflop_per_step": gflop,
     "rounds": len(rounds_ms), "mtlc_ms_per_step": ours,
     "mtlc_ms_per_step_rounds": rounds_ms,
     "mtlc_update_ms": statistics.median(updates) if updates else 0.0,
     "mtlc_gflops": gflops,
     "peak_gflops_1_thread": peak1, "peak_gflops": peakn,
     "peak_gflops_1_thread_before_after": peaks_1,
     "peak_gflops_before_after": peaks_n,
     "percent_of_peak": 100 * gflops / peakn if peakn else 0,
     "mtlc_bench": "$bench_line",
     "torch": runs[0][1] if runs else None,
     "torch_runs": [dict(one, round=rnd) for rnd, one in runs]}
try:  # the spec's batch (tomllib: python >= 3.11)
    import tomllib
    with open("$spec", "rb") as f:
        r["batch"] = tomllib.load(f).get("train", {}).get("batch", 128)
except (ImportError, OSError, ValueError):
    r["batch"] = runs[0][1].get("batch", 128) if runs else 128
print(f"reference step: {r['spec']} (batch {r['batch']}, fp32, {threads} threads)")
print(f"  mtlc build: {r['compile_s']:.1f} s; train step {gflop:.2f} GFLOP, "
      f"{r['train_step_ops']} ops")
print(f"  FMA peak: {peak1:.1f} GFLOP/s on 1 thread, {peakn:.1f} on {threads} "
      f"(the higher of before and after the rounds: "
      f"{peaks_1[0]:.1f} / {peaks_1[1]:.1f}, {peaks_n[0]:.1f} / {peaks_n[1]:.1f})")
rng = lambda xs: f"{min(xs):.1f}-{max(xs):.1f}"
print(f"  mtlc:          {ours:9.1f} ms/step  {gflops:6.1f} GFLOP/s  "
      f"{r['percent_of_peak']:.1f}% of the {threads}-thread peak "
      f"(optimizer update {r['mtlc_update_ms']:.1f} ms of it)"
      + (f"; median of {len(rounds_ms)} rounds, {rng(rounds_ms)}"
         if len(rounds_ms) > 1 else ""))
# One peer: a python and framework; its variants' rounds side by side with
# ours of the same round.
peers = {}
for rnd, one in runs:
    peers.setdefault((one.get("source", "?"), one.get("framework", "torch"),
                      one["torch"]), []).append((rnd, one))
for (src, framework, version), its in peers.items():
    torch = its[0][1]
    jax = framework == "jax"
    name = version if jax else f"torch {version}"
    for variant in [v["variant"] for v in torch["results"]]:
        ms, ratios = [], []
        for rnd, one in its:
            for v in one["results"]:
                if v["variant"] == variant:
                    ms.append(v["ms_per_step"])
                    ratios.append(v["ms_per_step"] / rounds_ms[rnd - 1])
        ratio = statistics.median(ratios)
        key = "jax_" if jax else "torch_pypi_" if src.startswith("pip") else "torch_"
        r[f"speedup_vs_{key}{variant}"] = ratio
        r[f"speedup_vs_{key}{variant}_rounds"] = ratios
        print(f"  {name} {variant:7s} {statistics.median(ms):9.1f} "
              f"ms/step  ({torch['layout']}, {torch['threads']} threads): "
              f"mtlc is {ratio:.2f}x faster"
              + (f" (rounds {rng(ratios)}x)" if len(ratios) > 1 else ""))
    blas = torch.get("blas", "?")
    print(f"    ({src}; BLAS: {blas})")
    if blas.startswith("reference BLAS"):
        print("    (install libopenblas0-pthread for a fair peer: the reference "
              "BLAS is ~10x slower)")
    if torch.get("compile_note"):
        print(f"    ({torch['compile_note']})")
if not runs:
    print("  PyTorch: not timed")
json.dump(r, open(sys.argv[1], "w"), indent=2)
print(f"  (written to {sys.argv[1]})")
PY
