#!/usr/bin/env bash
# Packs everything `scripts/gpu-check.sh --bundle` needs into one archive, for
# a GPU machine that has neither this project's Debian toolchain (LLVM 19,
# Halide 14) nor the network to install it, such as the `device` tool's
# machines, which take at most 64 MiB of carried files per call:
#
#   bash scripts/gpu-bundle.sh [--build DIR] [--out DIR]
#
# Writes OUT/bundle.tar.xz (default OUT = .gpu/, which .gitignore ignores)
# holding
#   bin/     mtlc, mtl-gpu-probe, gpu_tests, ptx_tests, mtl-bench-kernels
#   models/  each GPU-tested example built here with --target=cuda
#   lib/     the shared libraries they load that a CUDA image lacks (LLVM 19,
#            LLVM 14, Halide 14, fmt, libedit, ...), and two stubs: libz3 and
#            libxml2, which LLVM links for its static analyzer and Windows
#            manifests, never called by mtlc or Halide (the stubs define the
#            symbols LLVM imports; calling one would return garbage, so a
#            crash there means LLVM really used them)
#   data/    the first 1024 training and 512 test samples of Fashion-MNIST
#            (enough for the GPU example runs: 512 training, 300 test)
# and prints its size. Then, on the GPU machine:
#   bash scripts/gpu-check.sh --bundle .gpu/bundle.tar.xz
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
out=$root/.gpu
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "gpu-bundle.sh: error: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
data=${MTL_DATA_DIR:-/usr/share/datasets/fashion-mnist}
for f in {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz; do
  [ -f "$data/$f" ] || { echo "gpu-bundle.sh: error: $data/$f not found (scripts/install-deps.sh installs Fashion-MNIST; MTL_DATA_DIR names another folder)" >&2; exit 1; }
done
examples="fashion_detect multi_fashion sequential_lstm vae"
stage=$out/stage
rm -rf "$stage" && mkdir -p "$stage"/{bin,models,lib,data}

echo "gpu-bundle: building the tools in $build" >&2
ninja -C "$build" mtlc mtlrt gpu_tests ptx_tests mtl-gpu-probe \
  mtl-bench-kernels >&2
cp "$build"/bin/{mtlc,mtl-bench-kernels} "$build"/test/gpu/{gpu_tests,ptx_tests,mtl-gpu-probe} \
  "$stage/bin/"

# The models: rebuilt only when mtlc, the runtime or the spec is newer than
# the binary.
mkdir -p "$out/models"
for e in $examples; do
  m=$out/models/$e
  if [ ! -x "$m" ] || [ "$build/bin/mtlc" -nt "$m" ] ||
      [ "$build/runtime/libmtlrt.a" -nt "$m" ] ||
      [ "$root/examples/$e.toml" -nt "$m" ]; then
    echo "gpu-bundle: mtlc build examples/$e.toml --target=cuda" >&2
    (cd "$out/models" && "$build/bin/mtlc" build "$root/examples/$e.toml" \
      --target=cuda -v -o "$e" > "$e.build.log" 2>&1) ||
      { echo "gpu-bundle: error: building $e failed (see $out/models/$e.build.log)" >&2; exit 1; }
  fi
  cp "$m" "$out/models/$e.build.log" "$stage/models/"
done

# The libraries every binary above needs, minus glibc and the C++ runtime
# (the GPU image's are newer and compatible) and minus z3 / libxml2 (stubs).
skip='^(libc|libm|libgcc_s|libstdc\+\+|ld-linux-x86-64|linux-vdso|libz3|libxml2|libicu.*|liblzma)\.so'
for f in "$stage"/bin/* "$stage"/models/*; do
  [ -x "$f" ] || continue
  ldd "$f" | awk '$3 ~ /^\// { print $1, $3 }'
done | sort -u | while read -r name path; do
  if ! [[ $name =~ $skip ]]; then cp -L "$path" "$stage/lib/$name"; fi
done
for lib in z3:libz3.so.4 xml2:libxml2.so.2; do
  soname=${lib#*:}
  src=$stage/lib/stub.c
  map=$stage/lib/stub.map
  # name@VERSION for every symbol LLVM imports from this library.
  for l in "$stage"/lib/libLLVM*; do nm -D --undefined-only "$l"; done |
    awk '{ print $NF }' | sort -u |
    if [ "$soname" = libz3.so.4 ]; then grep -E '^Z3_'; else grep -E '^(xml|html)'; fi \
    > "$stage/lib/stub.syms"
  {
    echo "/* Stub $soname (scripts/gpu-bundle.sh): LLVM links it, mtlc never calls it. */"
    sed 's/@.*//' "$stage/lib/stub.syms" | while read -r s; do
      if [ "$s" = xmlFree ]; then echo "void *xmlFree;"; else echo "void $s(void) {}"; fi
    done
  } > "$src"
  # The versions LLVM asks for must be defined, or ld.so refuses the stub.
  {
    for v in $(grep @ "$stage/lib/stub.syms" | sed 's/.*@//' | sort -u); do
      echo "$v { global: $(grep "@$v\$" "$stage/lib/stub.syms" | sed 's/@.*/;/' | tr '\n' ' ') };"
    done
    echo "STUB { global: *; };"
  } > "$map"
  cc -shared -fPIC -Wl,-soname,"$soname" -Wl,--version-script="$map" \
    -o "$stage/lib/$soname" "$src"
  rm "$src" "$map" "$stage/lib/stub.syms"
done

# The data subset: idx files with their counts rewritten.
python3 - "$data" "$stage/data" <<'PY'
import gzip, struct, sys
src, dst = sys.argv[1:]
for prefix, n in (("train", 1024), ("t10k", 512)):
    for kind, item in (("images-idx3-ubyte", 28 * 28), ("labels-idx1-ubyte", 1)):
        with gzip.open(f"{src}/{prefix}-{kind}.gz") as f:
            raw = f.read()
        head = 16 if kind.startswith("images") else 8
        hdr = bytearray(raw[:head])
        hdr[4:8] = struct.pack(">I", n)
        with gzip.open(f"{dst}/{prefix}-{kind}.gz", "wb") as f:
            f.write(bytes(hdr) + raw[head:head + n * item])
PY

# The commit packed (the GPU machine's copy of the tree has a stale HEAD).
{ git -C "$root" rev-parse --short HEAD
  git -C "$root" diff --quiet HEAD -- . ':!.gpu' || echo "(with uncommitted changes)"
} 2>/dev/null | tr '\n' ' ' > "$stage/COMMIT"

echo "gpu-bundle: packing (xz -9)" >&2
tar -C "$stage" -cf - COMMIT bin models lib data | xz -9 -T2 > "$out/bundle.tar.xz"
rm -rf "$stage"
size=$(stat -c %s "$out/bundle.tar.xz")
echo "gpu-bundle: $out/bundle.tar.xz: $(( size / 1048576 )) MiB"
if [ "$size" -gt $(( 60 * 1048576 )) ]; then
  echo "gpu-bundle: warning: over 60 MiB; the device tool carries 64 MiB with the tree" >&2
fi
