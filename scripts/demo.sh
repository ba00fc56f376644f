#!/usr/bin/env bash
# The main job: generate the default project, make its sample data, train it, print metrics.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
root=$(pwd)
workdir=${1:-$(mktemp -d)}
mkdir -p "$workdir" && cd "$workdir"
rm -rf demo
time "$root/.venv/bin/okgen" new demo --yes
cd demo
export PYTHONPATH=src
"$root/.venv/bin/python" -m demo sample-data
"$root/.venv/bin/python" -m demo train
"$root/.venv/bin/python" -m demo test
echo "project: $workdir/demo"
