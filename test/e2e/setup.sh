# Sourced by the end-to-end scripts, with their arguments: $1 = mtlc, $2 =
# a work folder. Sets `mtlc`, `work`, `here` (test/e2e) and starts in a
# fresh $work with generated data in $work/data (gen_data.py).
set -euo pipefail
mtlc=$1
work=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rm -rf "$work" && mkdir -p "$work/data"
cd "$work"
python3 "$here/gen_data.py" data

# small.toml with the data folder filled in.
small_spec() { sed "s|@DATA@|$work/data|" "$here/small.toml" > small.toml; }

# lib_matches_binary LIBDIR CKPT: lib_predict.c, linked with the inference
# library in LIBDIR (small.toml's label and recon heads), predicts the
# first 4 test inputs as `./small predict` does from checkpoint CKPT.
lib_matches_binary() {
  cc -O1 -I"$1" "$here/lib_predict.c" "$1/libsmall.a" -lfmt -lz -lpthread \
    -ldl -lstdc++ -lm -o lib_predict
  python3 - <<'PY'
import gzip, struct
raw = gzip.open("data/t10k-images-idx3-ubyte.gz").read()[16:16 + 32 * 144]
open("inputs.f32", "wb").write(struct.pack("<%df" % len(raw), *[b / 255.0 for b in raw]))
PY
  ./lib_predict "$2" inputs.f32 4 > lib.json
  ./small predict --checkpoint "$2" --index 0 --count 4 --json > predict.json
  python3 - <<'PY'
import json
lib = json.load(open("lib.json"))
ref = json.load(open("predict.json"))["predictions"]
for a, b in zip(lib, ref):
    assert a["class"] == b["tasks"]["label"]["class"], (a, b)
    assert abs(a["probability"] - b["tasks"]["label"]["probability"]) < 1e-4, (a, b)
print("library predictions match the binary's:", lib)
PY
}
