#!/usr/bin/env bash
# Creates .venv with the pinned stack and okgen installed editable.
# The venv is reused while requirements-dev.txt and pyproject.toml are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=$(cat requirements-dev.txt pyproject.toml | sha256sum | cut -c1-16)
if [ "$(cat .venv/.okgen-stamp 2>/dev/null)" != "$stamp" ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  .venv/bin/pip install --quiet --disable-pip-version-check --no-deps -e .
  echo "$stamp" > .venv/.okgen-stamp
fi
export HF_HUB_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1 ORT_DISABLE_TELEMETRY=1
