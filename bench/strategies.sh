#!/usr/bin/env bash
# Trains examples/multi_fashion.toml with every multi-task strategy and the
# two single-task baselines, with the same seed and budget, evaluates each
# on the test set and writes the table (left acc, right acc, Δm, ms/step)
# into docs/strategies.md (between the STRATEGY-TABLE markers) and
# out/bench/strategies/table.md.
#
#   bash bench/strategies.sh [BUILD_DIR]
#
# Budget (environment): EPOCHS (default 10, the spec's), LIMIT_TRAIN (first
# N training pairs, default 0 = all 60k), LIMIT_TEST (default 0 = all 10k),
# SEED (default 1); SEEDS="1 2 3" trains every row once per seed and tables
# the means (LibMTL's practice: one seed cannot order strategies whose
# differences are the size of float-order noise). WEIGHTINGS, GRADIENTS_REP
# and GRADIENTS_PARAM (space separated) pick a subset of the strategies
# (default: all of them; the single-task baselines and the spec as written
# always run).
# VALIDATION=0.1 holds that share of the training pairs out (data.validation)
# and trains every row with `--keep-best`: each row is evaluated at its
# epoch of lowest validation loss (early stopping without stopping), so a
# long budget compares every model at its best instead of the single-task
# models overfitted. LABEL_FRACTION=0.1 gives each task's label to only
# that seeded share of the training pairs (tasks.*.label_fraction, drawn
# independently per task; the single-task baselines keep the same share of
# their task): the partial-label setting, where a shared trunk learns from
# every task's labels and a single-task one only from its own. Such a run
# writes its table between the PARTIAL-LABEL-TABLE markers of
# docs/strategies.md and into out/bench/strategies-labels/. KEEP=1 keeps
# the rows of an earlier run in out/bench/strategies (its binaries too) and
# trains only the strategies it lacks, then rewrites the table with all of
# them: a budget too long for one sitting can be run in parts (a run whose
# NAME.eval.json is there is not trained again, only tabled). Five binaries
# are built: the spec as written (static
# weights, fused join: the speed reference), one with run-time weights and
# the task join calling the runtime back (every weighting and every
# gradient method on `rep` run from it with `train --weighting/--gradient`),
# one with per-task gradients of the shared parameters (`param`), and the
# two single-task baselines (`mtlc build --single-task`).
# SPEC=FILE trains a variant of the network instead (tasks left and right,
# as in examples/multi_fashion.toml; e.g. multi_fashion_dense.toml, the
# trunk shared through its dense layer):
# its own out/bench/strategies-NAME/, its table between the markers that
# MARKER=NAME names in docs/strategies.md.
# Δm is LibMTL's: the mean over tasks of (M_t - M_t^single) / M_t^single,
# in percent (accuracy: higher is better). Not part of `make test`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
mtlc="$root/$build/bin/mtlc"
[ -x "$mtlc" ] || mtlc="$build/bin/mtlc"
EPOCHS=${EPOCHS:-10}
LIMIT_TRAIN=${LIMIT_TRAIN:-0}
LIMIT_TEST=${LIMIT_TEST:-0}
SEED=${SEED:-1}
SEEDS=${SEEDS:-$SEED}
WEIGHTINGS=${WEIGHTINGS-equal uncertainty dwa gradnorm rlw}
GRADIENTS_REP=${GRADIENTS_REP-pcgrad mgda_ub cagrad imtl_g}
GRADIENTS_PARAM=${GRADIENTS_PARAM-pcgrad mgda_ub cagrad imtl_g}
KEEP=${KEEP:-0}
VALIDATION=${VALIDATION:-0}
LABEL_FRACTION=${LABEL_FRACTION:-1}
SPEC=${SPEC:-$root/examples/multi_fashion.toml}
SPEC=$(cd "$(dirname "$SPEC")" && pwd)/$(basename "$SPEC")
out="$root/out/bench/strategies"
marker=STRATEGY-TABLE
if [ "$LABEL_FRACTION" != 1 ]; then
  out="$root/out/bench/strategies-labels"
  marker=PARTIAL-LABEL-TABLE
fi
if [ "$SPEC" != "$root/examples/multi_fashion.toml" ]; then
  # Another spec with the tasks left and right (a variant of the network):
  # its own directory, and the table between the markers MARKER names.
  out="$out-$(basename "$SPEC" .toml)"
  marker=${MARKER:?"strategies.sh: SPEC=$SPEC needs MARKER=NAME (<!-- NAME BEGIN --> in docs/strategies.md)"}
fi
[ "$KEEP" = 1 ] || rm -rf "$out"
mkdir -p "$out"
cd "$out"
spec="$SPEC"
best=()
if [ "$VALIDATION" != 0 ]; then
  # The spec with `validation` in its [data] table (replacing one there).
  sed -e '/^validation *=/d' -e "/^\[data\]/a validation = $VALIDATION" "$spec" > spec.toml
  grep -q "^validation = $VALIDATION" spec.toml ||
    { echo "strategies.sh: no [data] table in $spec" >&2; exit 1; }
  spec="$out/spec.toml"
  best=(--keep-best)
fi

if [ "$LABEL_FRACTION" != 1 ]; then
  # label_fraction in every [tasks.NAME] table.
  sed "/^\[tasks\.[a-z_]*\]/a label_fraction = $LABEL_FRACTION" "$spec" > labels.toml
  [ "$(grep -c "^label_fraction = $LABEL_FRACTION" labels.toml)" = 2 ] ||
    { echo "strategies.sh: expected two [tasks.NAME] tables in $spec" >&2; exit 1; }
  spec="$out/labels.toml"
fi
with_strategy() { # $1: [strategy] body -> spec file on stdout
  cat "$spec"
  printf '\n[strategy]\n%b\n' "$1"
}
with_strategy 'gradient = "pcgrad"\non = "rep"' > rep.toml
with_strategy 'gradient = "pcgrad"\non = "param"' > param.toml

# build BINARY [mtlc build args...] (kept from an earlier run with KEEP=1)
build() {
  local bin=$1
  shift
  [ "$KEEP" = 1 ] && [ -x "$bin" ] && return
  "$mtlc" build "$@" -o "$bin"
}
echo "== building"
build plain "$spec"
[ -z "$WEIGHTINGS$GRADIENTS_REP" ] || build rep rep.toml
[ -z "$GRADIENTS_PARAM" ] || build param param.toml
build single_left "$spec" --single-task=left
build single_right "$spec" --single-task=right

# run NAME BINARY [train flags...]: trains and evaluates once per seed,
# appends a JSON line per seed.
run() {
  local name=$1 bin=$2 seed stem
  shift 2
  for seed in $SEEDS; do
    stem=$name
    [ "$SEEDS" = "$SEED" ] || stem="$name@s$seed" # one seed: the old names
    if [ "$KEEP" = 1 ] && [ -f results.jsonl ] &&
      grep -qF "\"name\": \"$name\", \"seed\": $seed" results.jsonl; then
      echo "== $name, seed $seed (kept)"
      continue
    fi
    echo "== $name, seed $seed"
    # With KEEP=1, a run whose evaluation is there (trained by an earlier or
    # a parallel invocation with the same commands) only gets its row.
    if [ "$KEEP" != 1 ] || [ ! -s "$stem.eval.json" ]; then
      "./$bin" train --quiet --epochs "$EPOCHS" --limit-train "$LIMIT_TRAIN" \
        --seed "$seed" --checkpoint "$stem.ckpt" --log "$stem.jsonl" \
        ${best[@]+"${best[@]}"} "$@"
      local ck="$stem.ckpt"
      [ "$VALIDATION" = 0 ] || ck="$stem.ckpt.best"
      "./$bin" eval --json --checkpoint "$ck" \
        --limit-test "$LIMIT_TEST" > "$stem.eval.json"
    fi
    python3 - "$name" "$seed" "$stem" <<'PY' >> results.jsonl
import json, sys
name, seed, stem = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ev = json.load(open(f"{stem}.eval.json"))
epochs = [json.loads(l) for l in open(f"{stem}.jsonl") if '"epoch"' in l and '"step"' not in l]
steps = sum(1 for l in open(f"{stem}.jsonl") if '"step"' in l)
secs = sum(e["seconds"] for e in epochs)
acc = {t: m.get("accuracy") for t, m in ev["tasks"].items()}
row = {"name": name, "seed": seed, "acc": acc,
       "ms_per_step": 1000 * secs / max(steps, 1)}
if epochs and "best_epoch" in epochs[-1]:
    row["best_epoch"] = epochs[-1]["best_epoch"]
print(json.dumps(row))
PY
  done
}

run single_left single_left
run single_right single_right
run "static (fused join)" plain
for w in $WEIGHTINGS; do
  run "$w" rep --weighting "$w" --gradient none
done
for g in $GRADIENTS_REP; do
  run "$g (rep)" rep --weighting equal --gradient "$g"
done
for g in $GRADIENTS_PARAM; do
  run "$g (param)" param --weighting equal --gradient "$g"
done

python3 - "$root/docs/strategies.md" "$EPOCHS" "$LIMIT_TRAIN" "$LIMIT_TEST" "$SEEDS" "$VALIDATION" "$LABEL_FRACTION" "$marker" <<'PY'
import json, os, sys, subprocess
doc, epochs, limit_train, limit_test, seeds, validation, fraction, marker = sys.argv[1:]
val = validation != "0"
# One row per strategy: the mean over its seeds (in order of appearance).
runs = [json.loads(l) for l in open("results.jsonl")]
rows, by = [], {}
for r in runs:
    if r["name"] not in by:
        by[r["name"]] = {"name": r["name"], "runs": []}
        rows.append(by[r["name"]])
    by[r["name"]]["runs"].append(r)
for row in rows:
    n = len(row["runs"])
    row["acc"] = {t: sum(r["acc"][t] for r in row["runs"]) / n for t in row["runs"][0]["acc"]}
    row["ms_per_step"] = sum(r["ms_per_step"] for r in row["runs"]) / n
    row["best"] = ", ".join(str(r.get("best_epoch", "?")) for r in row["runs"])
    row["seeds"] = [r["seed"] for r in row["runs"]]
# A row trained on fewer seeds than others (KEEP=1 adding strategies with
# another SEEDS) is compared with the single-task runs of its own seeds, and
# the table then says which seeds each row averages.
def single_acc(task, seeds):
    accs = [r["acc"][task] for r in by["single_" + task]["runs"] if r["seed"] in seeds]
    if not accs:
        sys.exit(f"strategies.sh: no single-task {task} run for seeds {seeds}")
    return sum(accs) / len(accs)
mixed = len({tuple(r["seeds"]) for r in rows}) > 1
lines = ["| strategy | left acc | right acc | Δm (%) | ms/step |" + (" best epoch |" if val else "") + (" seeds |" if mixed else ""),
         "|---|---|---|---|---|" + ("---|" if val else "") + ("---|" if mixed else "")]
extra = lambda r: (f' {r["best"]} |' if val else "") + (f' {", ".join(map(str, r["seeds"]))} |' if mixed else "")
for r in rows:
    if r["name"].startswith("single_"):
        t = r["name"][len("single_"):]
        left = f'{r["acc"][t]:.4f}' if t == "left" else "—"
        right = f'{r["acc"][t]:.4f}' if t == "right" else "—"
        lines.append(f'| single-task {t} | {left} | {right} | 0 (reference) | {r["ms_per_step"]:.1f} |' + extra(r))
        continue
    single = {t: single_acc(t, r["seeds"]) for t in ("left", "right")}
    dm = 100 * sum((r["acc"][t] - single[t]) / single[t] for t in single) / len(single)
    lines.append(f'| {r["name"]} | {r["acc"]["left"]:.4f} | {r["acc"]["right"]:.4f} | {dm:+.2f} | {r["ms_per_step"]:.1f} |' + extra(r))
cpu = subprocess.run("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2", shell=True,
                     capture_output=True, text=True).stdout.strip()
cores = subprocess.run('nproc', capture_output=True, text=True).stdout.strip()
threads = os.environ.get("HL_NUM_THREADS") or cores
budget = (f"Budget: {epochs} epochs, {'all' if limit_train == '0' else limit_train} training pairs, "
          f"{'all' if limit_test == '0' else limit_test} test pairs, "
          + (f"seeds {', '.join(sorted({str(s) for r in rows for s in r['seeds']}))} (each row: the mean over the seeds in its last column; Δm against the single-task runs of the same seeds)" if mixed else
           f"{'seed ' + seeds if len(seeds.split()) == 1 else 'seeds ' + ', '.join(seeds.split()) + ' (each row: the mean over them)'}")
          + f"; {threads} thread(s) per run on {cores} cores ({cpu})."
          + (f" {validation} of the training pairs held out for validation; every run is evaluated "
             f"at its epoch of lowest validation loss (`train --keep-best`; the best epoch per seed "
             f"in the last column)." if val else "")
          + (f" Partial labels: each task's label kept on a seeded {fraction} share of the "
             f"training pairs, drawn independently per task (`label_fraction`); the test set "
             f"keeps every label." if fraction != "1" else ""))
table = budget + "\n\n" + "\n".join(lines) + "\n"
open("table.md", "w").write(table)
text = open(doc).read()
begin, end = f"<!-- {marker} BEGIN -->", f"<!-- {marker} END -->"
i, j = text.index(begin) + len(begin), text.index(end)
open(doc, "w").write(text[:i] + "\n" + table + text[j:])
print(table)
PY
