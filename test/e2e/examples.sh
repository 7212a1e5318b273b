#!/usr/bin/env bash
# End to end, one example spec (examples/NAME.toml): mtlc builds it, the
# binary trains one epoch on a small slice of Fashion-MNIST (the installed
# IDX files, which the generated sources are built from), then eval and
# predict run and report every task with its metrics, all finite.
# Usage: examples.sh MTLC EXAMPLES_DIR NAME WORKDIR
set -euo pipefail
mtlc=$1
examples=$2
name=$3
work=$4
data=${MTL_DATA_DIR:-/usr/share/datasets/fashion-mnist}
if [ ! -f "$data/train-images-idx3-ubyte.gz" ]; then
  echo "skipped: no Fashion-MNIST in $data (scripts/install-deps.sh installs it)"
  exit 77
fi
rm -rf "$work" && mkdir -p "$work"
cd "$work"

"$mtlc" build "$examples/$name.toml" -o "$name"
# 512 samples: 2-4 steps, enough to run every pipeline and the optimizer.
./"$name" train --quiet --epochs 1 --limit-train 512 --data-dir "$data" \
  --log train.jsonl
test -s "$name.ckpt"
./"$name" eval --json --limit-test 300 --data-dir "$data" > eval.json
./"$name" predict --count 2 --data-dir "$data" > predict.txt
test -s predict.txt

# Every task of the spec is evaluated with the metrics it asks for, and every
# number (training losses too) is finite.
python3 - "$examples/$name.toml" train.jsonl eval.json <<'PY'
import json, math, sys
try:
    import tomllib
except ImportError:  # Python < 3.11: only the task names are needed
    tomllib = None
spec_path, log_path, eval_path = sys.argv[1:]
text = open(spec_path).read()
if tomllib:
    tasks = tomllib.loads(text)["tasks"]
    want = {t: tasks[t].get("metrics") for t in tasks}
else:
    import re
    want = {t: None for t in re.findall(r"^\[tasks\.([A-Za-z_]\w*)\]", text, re.M)}
steps = [json.loads(l) for l in open(log_path) if '"step"' in l]
assert steps, "no training steps logged"
for s in steps:
    for task, v in s["losses"].items():
        assert math.isfinite(v), f"step {s['step']}: {task} loss {v}"
r = json.load(open(eval_path))
assert r["samples"] == 300, r
got = r["tasks"]
assert set(got) == set(want), f"tasks {sorted(got)} != {sorted(want)}"
for task, metrics in want.items():
    for m in ["loss"] + (metrics or []):
        assert m in got[task], f"{task}: no {m} in {got[task]}"
    for m, v in got[task].items():
        assert math.isfinite(v), f"{task}.{m} = {v}"
print(f"{len(steps)} steps;", json.dumps(got))
PY
echo "e2e example $name: ok"
