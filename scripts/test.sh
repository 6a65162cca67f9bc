#!/usr/bin/env bash
# Set up (if needed), then run the whole test suite and every proofs/ script.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MPLBACKEND=Agg
# the layer contract in pyproject.toml ([tool.importlinter]): no import points up a layer
.venv/bin/lint-imports
.venv/bin/python -m pytest -p no:cacheprovider tests
if ls proofs/*.py >/dev/null 2>&1; then
  .venv/bin/python proofs/run_all.py
fi
