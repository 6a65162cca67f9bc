#!/usr/bin/env bash
# Installs everything polyattr needs on a fresh Debian machine with Python >= 3.11:
# Debian's libcdd-dev and libgmp-dev (pycddlib builds against them), a virtual environment in
# .venv, and the package with its dev and torch extras. Safe to run again: it skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=0
for pkg in libcdd-dev libgmp-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt=1
done
if [ "$need_apt" = 1 ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "setup: installing Debian packages libcdd-dev libgmp-dev" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libcdd-dev libgmp-dev >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)" >&2
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.polyattr-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing polyattr and its dependencies into .venv (a few minutes the first time)" >&2
  .venv/bin/python -m pip install -q --upgrade pip 2>/dev/null
  # torch==2.13.0 is the CPU build on this platform's disk (the optional 'torch' extra)
  .venv/bin/python -m pip install -q -e ".[dev,torch]"
  .venv/bin/python -c "import polyattr, cdd, cdd.gmp, numba, cvxpy, torch, flint, distributed"
  touch "$stamp"
fi
# Warm the numba on-disk cache (every kernel has cache=True): compile the kernels of `polyattr demo`
# and `polyattr regions` once, so that their first run loads machine code instead of compiling for
# 15-30 s.  Run on every set-up, outside the install step: about 1 s when the cache is current, and
# after a source change it recompiles just the kernels whose source changed.  The cache lives in
# polyattr/**/__pycache__, or in a per-user directory when that is read-only (polyattr/jit.py).
echo "setup: numba kernels of the demo and 'polyattr regions' (compiled once, then cached on disk)" >&2
.venv/bin/python -m polyattr.cli.warmup >&2
