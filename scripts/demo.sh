#!/usr/bin/env bash
# The demo: compile the example spec, train it on Fashion-MNIST, evaluate it
# on the 10k test images, print per-task metrics and the step time.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
mtlc="$root/$build/bin/mtlc"
spec="$root/examples/fashion_mtl.toml"
out="$root/out/demo"
mkdir -p "$out"
cd "$out"
rm -f fashion_mtl.ckpt train.jsonl

echo "== mtlc build $spec"
TIMEFORMAT='   compile: %1R s'
time "$mtlc" build "$spec" -o fashion_mtl -v

echo "== ./fashion_mtl train"
TIMEFORMAT='   train: %1R s'
time ./fashion_mtl train --log train.jsonl

echo "== ./fashion_mtl eval (10k test images)"
./fashion_mtl eval
./fashion_mtl eval --json > metrics.json
echo "   metrics: $out/metrics.json"

echo "== ./fashion_mtl bench"
./fashion_mtl bench
