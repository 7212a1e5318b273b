#!/usr/bin/env bash
# Trains every example spec fully, evaluates it on the test set and writes the
# results table that README.md's "Results" section quotes.
#
#   bash bench/train_examples.sh [BUILD_DIR] [EXAMPLE ...]
#
# BUILD_DIR defaults to `build`; the examples default to all four reference
# workloads. Each one is built with mtlc, trained for the epochs its spec
# sets in [train] (multi_fashion 10, sequential_lstm 8, fashion_detect 12,
# vae 10; EPOCHS=N overrides all of them), evaluated on the 10k test
# samples, and its per-task metrics, epochs, compile and training minutes and
# the machine are appended to out/bench/results.md (results.json beside it
# holds the raw eval output). Not part of `make test`: on the 2-core
# development machine the four trainings take about an hour together.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
shift || true
examples=("$@")
[ ${#examples[@]} -gt 0 ] || examples=(multi_fashion sequential_lstm fashion_detect vae)
mtlc="$root/$build/bin/mtlc"
[ -x "$mtlc" ] || mtlc="$build/bin/mtlc"
out="$root/out/bench"
mkdir -p "$out"
machine="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
threads=${HL_NUM_THREADS:-$(nproc)}
table="$out/results.md"
[ -f "$table" ] || {
  echo "| spec | epochs | compile | train time | test metrics | machine |"
  echo "|---|---|---|---|---|---|"
} > "$table"

for name in "${examples[@]}"; do
  spec="$root/examples/$name.toml"
  work="$out/$name"
  rm -rf "$work" && mkdir -p "$work"
  cd "$work"
  echo "== $name: mtlc build"
  t0=$(date +%s.%N)
  "$mtlc" build "$spec" -o "$name" -v > build.log 2>&1 || { cat build.log; exit 1; }
  t1=$(date +%s.%N)
  epochs_flag=()
  [ -n "${EPOCHS:-}" ] && epochs_flag=(--epochs "$EPOCHS")
  echo "== $name: train ${EPOCHS:+($EPOCHS epochs)}"
  ./"$name" train "${epochs_flag[@]}" --log train.jsonl | tee train.log |
    grep -E '^epoch [0-9]+/[0-9]+:' || true
  t2=$(date +%s.%N)
  ./"$name" eval --json > eval.json
  python3 - "$name" "$t0" "$t1" "$t2" "$machine, $threads threads" train.jsonl \
      eval.json "$table" "$out/results.json" <<'PY'
import json, sys
name, t0, t1, t2, machine, log, ev, table, raw = sys.argv[1:]
t0, t1, t2 = float(t0), float(t1), float(t2)
lines = [json.loads(l) for l in open(log)]
epochs = [l for l in lines if "epoch" in l and "step" not in l]
r = json.load(open(ev))
metrics = []
for task, m in r["tasks"].items():
    parts = [f"{k} {v:.4f}" for k, v in m.items() if k != "loss"]
    parts.append(f"loss {m['loss']:.4f}")
    metrics.append(f"{task}: " + ", ".join(parts))
# Training losses of the first and the last epoch (do they fall?).
def losses(e):
    return {t: m.get("loss") for t, m in e.get("tasks", {}).items()}
first = losses(epochs[0]) if epochs else {}
last = losses(epochs[-1]) if epochs else {}
row = (f"| `examples/{name}.toml` | {len(epochs)} | {(t1 - t0):.0f} s | "
       f"{(t2 - t1) / 60:.1f} min | {'; '.join(metrics)} | {machine} |")
with open(table, "a") as f:
    f.write(row + "\n")
try:
    allr = json.load(open(raw))
except (OSError, ValueError):
    allr = {}
allr[name] = {"eval": r, "epochs": len(epochs), "compile_s": t1 - t0,
              "train_s": t2 - t1, "machine": machine,
              "train_loss_first_epoch": first, "train_loss_last_epoch": last}
json.dump(allr, open(raw, "w"), indent=1)
print(row)
PY
done
echo "results: $table"
