#!/usr/bin/env bash
# Set up (if needed), then run the whole test suite and every proofs/ script.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MPLBACKEND=Agg
.venv/bin/python -m pytest -p no:cacheprovider tests
if ls proofs/*.py >/dev/null 2>&1; then
  .venv/bin/python proofs/run_all.py
fi
