#!/usr/bin/env bash
# PyPI peers for the benchmarks (issue 7): a virtual environment with PyPI's
# PyTorch (MKL and oneDNN linked in, torch.compile) and optionally JAX, the
# peers a user would pick where the machine reaches PyPI. Benchmarks only:
# the product and `make test` never use PyPI.
#
#   bash bench/pypi_peers.sh [--venv DIR] [--torch VERSION] [--jax]
#
# DIR defaults to out/bench/pypi-venv; prints its python on stdout (give it
# to bench/reference_step.sh --torch-python, or use its --pypi). Does
# nothing when the venv already has that torch (and jax).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$root/out/bench/pypi-venv
torch_version=2.9.1
jax=0
while [ $# -gt 0 ]; do
  case $1 in
    --venv) venv=$2; shift 2 ;;
    --torch) torch_version=$2; shift 2 ;;
    --jax) jax=1; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "pypi_peers.sh: error: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
log() { echo "pypi_peers: $*" >&2; }
py=$venv/bin/python

have() { # have MODULE VERSION-PREFIX
  "$py" -c "import sys, $1; sys.exit(0 if $1.__version__.startswith('$2') else 1)" \
    2>/dev/null
}

if [ ! -x "$py" ]; then
  base=$(command -v python3 || true)
  [ -n "$base" ] || { log "error: no python3 on PATH"; exit 1; }
  log "creating $venv ($base)"
  if ! "$base" -m venv "$venv" 2>/dev/null; then
    # Debian's python3 needs python3-venv for this.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      log "installing python3-venv (apt)"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >&2
      rm -rf "$venv"
      "$base" -m venv "$venv"
    else
      log "error: '$base -m venv' failed; install python3-venv"
      exit 1
    fi
  fi
fi
if ! have torch "$torch_version"; then
  log "pip install torch==$torch_version (PyPI; a CUDA build: ~3 GB with its"
  log "  nvidia-* wheels, which the CPU runs never load)"
  "$py" -m pip install -q --disable-pip-version-check \
    "torch==$torch_version" numpy >&2
fi
if [ "$jax" = 1 ] && ! have jax ""; then
  log "pip install jax (CPU)"
  "$py" -m pip install -q --disable-pip-version-check "jax[cpu]" >&2
fi
echo "$py"
