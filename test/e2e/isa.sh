#!/usr/bin/env bash
# End to end: `mtlc build --isa=avx512,avx2,sse41` compiles every kernel once
# per instruction set into one binary; each variant (forced with MTL_ISA)
# trains the same steps to the same losses, and so does the inference
# library built the same way. Bad --isa / MTL_ISA values fail cleanly.
source "$(dirname "$0")/setup.sh"
small_spec

# The variants this CPU can run (a variant it lacks would not be chosen).
isas=sse41
grep -qw avx2 /proc/cpuinfo && isas="avx2 $isas"
grep -qw avx512f /proc/cpuinfo && isas="avx512 $isas"

"$mtlc" build small.toml --isa=sse41,avx2,avx512 -o small
for isa in $isas; do
  MTL_ISA=$isa ./small train --quiet --epochs 1 --checkpoint "$isa.ckpt" \
    --log "$isa.jsonl"
done

# Every variant's per-task losses equal the first's over the epoch (only
# the summation order differs between the register tiles).
python3 - $isas <<'PY'
import json, sys
isas = sys.argv[1:]
def losses(isa):
    return [json.loads(l)["losses"] for l in open(f"{isa}.jsonl") if '"step"' in l]
ref = losses(isas[0])
assert len(ref) >= 20, len(ref)
for isa in isas[1:]:
    got = losses(isa)
    assert len(got) == len(ref), (isa, len(got))
    worst = max(abs(g[t] - r[t]) / max(abs(r[t]), 1e-3)
                for g, r in zip(got, ref) for t in r)
    print(f"{isa} vs {isas[0]}: largest relative loss difference {worst:.2e}")
    assert worst < 1e-3, (isa, worst)
PY

# The inference library with the same variants (its best one) predicts as
# the binary does.
"$mtlc" build small.toml --emit=lib --tasks=label,recon --isa=avx512,avx2,sse41 \
  -o lib
lib_matches_binary lib "${isas%% *}.ckpt"

# Bad values: a clear message and a non-zero exit.
if "$mtlc" build small.toml --isa=avx3 -o bad 2> err.txt; then exit 1; fi
grep -q "unknown instruction set 'avx3'" err.txt
if "$mtlc" build small.toml --isa=avx2,avx2 -o bad 2> err.txt; then exit 1; fi
grep -q "listed twice" err.txt
if "$mtlc" build small.toml --target=cuda --isa=avx2 -o bad 2> err.txt; then
  exit 1
fi
grep -q "isa" err.txt
if MTL_ISA=avx3 ./small bench --steps 1 2> err.txt; then exit 1; fi
grep -q "MTL_ISA: unknown instruction set 'avx3'" err.txt
echo "e2e isa: ok"
