#!/usr/bin/env bash
# Mutation testing with mutmut: mutate the given modules, judge each mutant by the given tests.
#
#   scripts/mutation.sh [--tests "TEST_PATH..."] MODULE.py...
#
#   scripts/mutation.sh --tests "tests/generator/test_merge.py" generator/okgen/merge.py
#   scripts/mutation.sh --tests tests/components/test_losses.py component_library/losses/focal.py
#
# Without --tests it runs tests/generator (okgen modules) or tests/components (components),
# e2e excluded. It works in a scratch copy of this checkout (MUTATION_DIR, default a new
# temporary folder) and keeps it, so `cd DIR && $PYTHON -m mutmut show NAME` explains a
# survivor. Two workers by default, for a 2-core machine (MUTATION_JOBS overrides).
# PYTHON is the interpreter with mutmut installed; without it, the README's .venv is used.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tests=""
if [ "${1:-}" = "--tests" ]; then
  tests="$2"
  shift 2
fi
if [ $# -eq 0 ]; then
  echo "usage: $0 [--tests \"TEST_PATH...\"] MODULE.py..." >&2
  exit 2
fi
if [ -z "${PYTHON:-}" ]; then
  source "$root/scripts/setup.sh"
  PYTHON="$root/.venv/bin/python"
fi
work="${MUTATION_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/okgen-mutation-XXXXXX")}"
mkdir -p "$work"
# The checkout's files, committed or not (ignored ones left out).
(cd "$root" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) |
  (cd "$work" && tar -xf -)
cd "$work"
rm -rf mutants setup.cfg
# mutmut imports mutated code from the top of the copy: okgen moves there, with its
# resources inside it as in a wheel (okgen/_resources.py looks there first).
if [ -d generator/okgen ]; then
  mv generator/okgen okgen
  cp -r templates okgen/templates
  cp -r component_library okgen/component_library
fi

modules=()
sources=()
for module in "$@"; do
  module="${module#generator/}"
  [ -f "$module" ] || { echo "no module $module" >&2; exit 2; }
  modules+=("$module")
  sources+=("${module%%/*}")
done
if [ -z "$tests" ]; then
  case "${modules[0]}" in
    okgen/*) tests="tests/generator" ;;
    *) tests="tests/components" ;;
  esac
fi
also_copy=()
for folder in okgen component_library templates; do
  if [ -d "$folder" ] && [[ ! " ${sources[*]} " =~ " $folder " ]]; then also_copy+=("$folder"); fi
done
lines() { printf '    %s\n' "$@"; }
{
  echo "[mutmut]"
  echo "source_paths ="
  lines $(printf '%s\n' "${sources[@]}" | sort -u)
  echo "only_mutate ="
  lines "${modules[@]}"
  echo "also_copy ="
  lines "${also_copy[@]}"
  echo "pytest_add_cli_args_test_selection ="
  lines $tests
  echo "pytest_add_cli_args ="
  lines -p no:cacheprovider -m "not e2e"
} > setup.cfg

export HF_HUB_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1 ORT_DISABLE_TELEMETRY=1
env -u PYTHONPATH nice -n 5 "$PYTHON" -m mutmut run --max-children "${MUTATION_JOBS:-2}" \
  > mutmut-run.log 2>&1 || { tail -40 mutmut-run.log; exit 1; }
env -u PYTHONPATH "$PYTHON" -m mutmut results --all true > mutmut-results.txt
# One line per module: mutants by status, and the share killed.
echo "mutation score (work folder: $work)"
for module in "${modules[@]}"; do
  name="${module%.py}"
  name="${name//\//.}"
  grep -F "$name.x" mutmut-results.txt | awk -F': ' -v module="$module" '
    { count[$2]++; total++ }
    END {
      line = ""
      for (status in count) line = line sprintf(" %s=%d", status, count[status])
      printf "%s: %d mutants,%s, killed %.1f%%\n", module, total, line,
        total ? 100 * count["killed"] / total : 0
    }'
done
