#!/usr/bin/env bash
# The demo: compile the reference model (examples/fashion_detect.toml: one
# CNN backbone with batch norm, four heads: label, group, box, recon), train
# it on the fashion-detect data built from Fashion-MNIST, evaluate it on the
# 10k test canvases, print per-task metrics and the step time.
#
# To stay under 5 minutes on 2 cores (compile ~1 min, ~2.6 min per epoch)
# the demo trains DEMO_EPOCHS = 1 epoch; the full training to the targets
# (12 epochs, the spec's [train] epochs) is bench/train_examples.sh.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
mtlc="$root/$build/bin/mtlc"
spec="$root/examples/fashion_detect.toml"
name=fashion_detect
epochs=${DEMO_EPOCHS:-1}
out="$root/out/demo"
mkdir -p "$out"
cd "$out"
rm -f $name.ckpt train.jsonl

echo "== mtlc build $spec"
TIMEFORMAT='   compile: %1R s'
time "$mtlc" build "$spec" -o $name -v

echo "== ./$name train --epochs $epochs"
TIMEFORMAT='   train: %1R s'
time ./$name train --epochs "$epochs" --log train.jsonl

echo "== ./$name eval (10k test images)"
./$name eval
./$name eval --json > metrics.json
echo "   metrics: $out/metrics.json"

echo "== ./$name bench"
./$name bench
