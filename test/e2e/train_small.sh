#!/usr/bin/env bash
# End to end: mtlc builds a three-task spec into a binary, which trains ~100
# steps on generated data; every task's loss must fall, eval must beat
# chance, and bad inputs must fail cleanly.
source "$(dirname "$0")/setup.sh"
small_spec

"$mtlc" build small.toml -o small
./small train --quiet --log train.jsonl
test -s small.ckpt

# Each task's mean loss over the last 10 steps is below 80% of the first 10.
python3 - train.jsonl <<'PY'
import json, sys
steps = [json.loads(l) for l in open(sys.argv[1]) if '"step"' in l]
assert len(steps) == 100, f"expected 100 steps, got {len(steps)}"
for task in steps[0]["losses"]:
    first = sum(s["losses"][task] for s in steps[:10]) / 10
    last = sum(s["losses"][task] for s in steps[-10:]) / 10
    print(f"{task}: loss {first:.4f} -> {last:.4f}")
    assert last < 0.8 * first, f"task {task}: loss did not fall"
PY

./small eval --json > eval.json
python3 - eval.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["samples"] == 400, r
t = r["tasks"]
print(json.dumps(t))
assert t["label"]["accuracy"] > 0.5, t   # chance: 1/6
assert t["group"]["accuracy"] > 0.75, t  # chance: 1/2
assert t["recon"]["mse"] < 0.1, t
PY

# An inference library of two of the three heads (dead-head elimination),
# used from C: the same predictions as the binary's `predict`.
"$mtlc" build small.toml --emit=lib --tasks=label,recon -o lib
grep -q "small_predict(small \*model, const float \*input, float \*label, float \*recon)" lib/small.h
lib_matches_binary lib small.ckpt

# Resume continues from the checkpoint's epoch.
./small train --quiet --resume --epochs 3 --log train.jsonl
python3 -c "import json; e=[json.loads(l) for l in open('train.jsonl') if '\"epoch\"' in l and '\"step\"' not in l]; assert [x['epoch'] for x in e]==[1,2,3], e"

# Bad inputs: a clear error and a non-zero exit, the checkpoint intact.
cp small.ckpt good.ckpt
if ./small train --data-dir /nonexistent 2> err.txt; then exit 1; fi
grep -q "error" err.txt
cmp small.ckpt good.ckpt
if ./small eval --bogus-flag 2> err.txt; then exit 1; fi
head -c 100 small.ckpt > bad.ckpt
if ./small eval --checkpoint bad.ckpt 2> err.txt; then exit 1; fi
grep -q "bad.ckpt" err.txt
echo "e2e: ok"
