#!/usr/bin/env bash
# End to end for the multi-task strategies (docs/strategies.md): a two-task
# spec built with a gradient method on `rep` (task join calling the runtime
# back) and on `param` (per-task backbone gradients); every weighting and
# every gradient method trains 2 epochs (100 steps) from those two binaries
# (`train --weighting/--gradient`); the losses must stay finite and fall.
# A run stopped after epoch 1 and resumed must end exactly where the
# uninterrupted run ends (learned weights included), and the single-task
# baseline builds and trains.
source "$(dirname "$0")/setup.sh"
for on in rep param; do
  sed -e "s|@DATA@|$work/data|" -e "s|@ON@|$on|" "$here/strategy.toml" > $on.toml
  "$mtlc" build $on.toml -o $on
done

check() { # LOG: finite losses, each task's last 10 steps below its first 10
  python3 - "$1" <<'PY'
import json, math, sys
steps = [json.loads(l) for l in open(sys.argv[1]) if '"step"' in l]
assert len(steps) == 100, f"expected 100 steps, got {len(steps)}"
for task in steps[0]["losses"]:
    v = [s["losses"][task] for s in steps]
    assert all(math.isfinite(x) for x in v), f"{task}: non-finite loss"
    first, last = sum(v[:10]) / 10, sum(v[-10:]) / 10
    assert last < 0.8 * first, f"{sys.argv[1]} {task}: {first:.4f} -> {last:.4f}"
w = steps[-1]["weights"]
assert all(math.isfinite(x) and x > 0 for x in w), w
print(f"{sys.argv[1]}: " + ", ".join(
    f"{t} {sum(s['losses'][t] for s in steps[:10])/10:.3f} -> "
    f"{sum(s['losses'][t] for s in steps[-10:])/10:.3f}" for t in steps[0]["losses"])
    + f", last weights {[round(x, 4) for x in w]}")
PY
}

for w in static equal uncertainty dwa gradnorm rlw; do
  ./rep train --quiet --weighting $w --gradient none --checkpoint w_$w.ckpt --log w_$w.jsonl
  check w_$w.jsonl
done
for on in rep param; do
  for g in pcgrad mgda_ub cagrad imtl_g; do
    ./$on train --quiet --weighting equal --gradient $g --checkpoint ${on}_$g.ckpt --log ${on}_$g.jsonl
    check ${on}_$g.jsonl
  done
done
# The spec's own strategy (uncertainty + pcgrad on rep).
./rep train --quiet --log spec.jsonl
check spec.jsonl

# Resume: 2 epochs, then a third from the checkpoint, against 3 epochs in
# one go: the learned log-variances (uncertainty), DWA's loss history (its
# first weights other than 1 are epoch 3's) and GradNorm's weights must come
# back from the checkpoint for every step of epoch 3 to agree.
for w in uncertainty dwa gradnorm; do
  flags="--quiet --weighting $w --gradient pcgrad"
  ./rep train $flags --epochs 3 --checkpoint f_$w.ckpt --log f_$w.jsonl
  ./rep train $flags --epochs 2 --checkpoint r_$w.ckpt --log r_$w.jsonl
  ./rep train $flags --epochs 3 --resume --checkpoint r_$w.ckpt --log r_$w.jsonl
  python3 - r_$w.jsonl f_$w.jsonl <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1]) if '"step"' in l]
b = [json.loads(l) for l in open(sys.argv[2]) if '"step"' in l]
assert len(a) == len(b) == 150, (len(a), len(b))
for x, y in zip(a[100:], b[100:]):
    for p, q in zip(x["weights"], y["weights"]):
        assert abs(p - q) <= 1e-4 * max(1.0, abs(q)), (x, y)
print(f"{sys.argv[1]}: the resumed epoch 3 has the same weights, ending "
      f"{a[-1]['weights']}")
PY
done
# A checkpoint without the weighting's state is refused on resume.
if ./rep train --quiet --weighting uncertainty --epochs 3 --resume --checkpoint w_equal.ckpt 2> err.txt; then exit 1; fi
grep -q "no strategy state 'uncertainty.log_var'" err.txt

sed -e "s|@DATA@|$work/data|" -e '/^\[strategy\]/,$d' "$here/strategy.toml" > plain.toml
# Run-time weights and the task join's callback, with static weights and no
# gradient method, are the plain build's arithmetic (up to summation order):
# the same losses over the first 20 steps.
"$mtlc" build plain.toml -o plain
./plain train --quiet --epochs 1 --checkpoint plain.ckpt --log plain.jsonl
./rep train --quiet --epochs 1 --weighting static --gradient none --checkpoint same.ckpt --log same.jsonl
python3 - plain.jsonl same.jsonl <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1]) if '"step"' in l][:20]
b = [json.loads(l) for l in open(sys.argv[2]) if '"step"' in l][:20]
for x, y in zip(a, b):
    for t in x["losses"]:
        p, q = x["losses"][t], y["losses"][t]
        assert abs(p - q) <= 1e-3 * max(abs(p), 1e-3), (x, y)
print("static run-time weights + task join == plain build over 20 steps")
PY
"$mtlc" build plain.toml --single-task=label -o single
# The single-task baseline: one task, and (static weights) it refuses a
# learned weighting.
./single train --quiet --log single.jsonl
python3 -c "
import json; s=[json.loads(l) for l in open('single.jsonl') if '\"step\"' in l]
assert list(s[0]['losses']) == ['label'], s[0]"
if ./single train --quiet --weighting uncertainty 2> err.txt; then exit 1; fi
grep -q "built with static loss weights" err.txt
echo "e2e strategies: ok"
