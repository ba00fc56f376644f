#!/usr/bin/env bash
# okgen's tests: components, generator, and generated projects end to end.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest "$@"
