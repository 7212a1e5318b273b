#!/usr/bin/env bash
# A few training steps of one example on the GPU: mtlc builds it with
# --target=cuda, the binary trains one epoch on 512 samples (4 steps at
# batch 128), evaluates 300 test samples and benches 5 steps; every loss and
# metric must be finite. Exit 77 (skipped) without a GPU or without the
# Fashion-MNIST files. With MTL_PREBUILT_MODELS set (scripts/gpu-check.sh
# --bundle), the binary built there is used instead of building it.
# Usage: train_gpu.sh MTLC GPU_PROBE EXAMPLES_DIR NAME WORKDIR
set -euo pipefail
mtlc=$1
probe=$2
examples=$3
name=$4
work=$5
data=${MTL_DATA_DIR:-/usr/share/datasets/fashion-mnist}
rc=0
"$probe" || rc=$?
if [ "$rc" = 77 ]; then exit 77; fi
if [ "$rc" != 0 ]; then echo "mtl-gpu-probe failed ($rc)"; exit 1; fi
if [ ! -f "$data/train-images-idx3-ubyte.gz" ]; then
  echo "skipped: no Fashion-MNIST in $data (scripts/install-deps.sh installs it)"
  exit 77
fi
rm -rf "$work" && mkdir -p "$work"
cd "$work"

if [ -n "${MTL_PREBUILT_MODELS:-}" ]; then
  cp "$MTL_PREBUILT_MODELS/$name" .
else
  "$mtlc" build "$examples/$name.toml" --target=cuda -o "$name"
fi
./"$name" train --quiet --epochs 1 --limit-train 512 --data-dir "$data" \
  --log train.jsonl
./"$name" eval --json --limit-test 300 --data-dir "$data" > eval.json
./"$name" bench --steps 5 --warmup 2 | tee bench.txt

env -u LD_LIBRARY_PATH python3 - train.jsonl eval.json <<'PY'
import json, math, sys
log_path, eval_path = sys.argv[1:]
steps = [json.loads(l) for l in open(log_path) if '"step"' in l]
assert steps, "no training steps logged"
for s in steps:
    for task, v in s["losses"].items():
        assert math.isfinite(v), f"step {s['step']}: {task} loss {v}"
r = json.load(open(eval_path))
for task, metrics in r["tasks"].items():
    for m, v in metrics.items():
        assert math.isfinite(v), f"{task}.{m} = {v}"
print(f"GPU: {len(steps)} steps;", json.dumps(r["tasks"]))
PY
