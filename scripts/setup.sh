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
  # Warm the numba on-disk cache once (every @njit kernel has cache=True), so the first real run
  # loads machine code instead of compiling for ~15 s.  The cache lives in polyattr/**/__pycache__,
  # or, where that is not writable, in numba's per-user cache directory (~/.cache/numba).
  echo "setup: compiling the numba kernels once (cached on disk)" >&2
  warm_dir="$(mktemp -d)"
  .venv/bin/polyattr demo --out "$warm_dir/warm-up.png" >/dev/null
  rm -rf "$warm_dir"
  touch "$stamp"
fi
