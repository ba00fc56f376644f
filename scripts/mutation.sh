#!/usr/bin/env bash
# Mutation testing with mutmut: mutate the given modules, judge each mutant by the given tests.
#
#   scripts/mutation.sh [--tests "TEST_PATH..."] MODULE...
#
#   scripts/mutation.sh --tests "tests/generator/test_merge.py" generator/okgen/merge.py
#   scripts/mutation.sh component_library/losses component_library/callbacks/ema.py
#
# A MODULE is a .py file or a folder of them. Without --tests, the tests are the test files
# that import a module (else tests/generator for okgen, tests/components for components),
# e2e excluded; mutmut then runs, per mutant, only the tests that reach the mutated function.
# It works in a scratch copy of this checkout (MUTATION_DIR, default a new temporary folder)
# and keeps it, so `cd DIR && $PYTHON -m mutmut show NAME` explains a survivor. Two workers by
# default, for a 2-core machine (MUTATION_JOBS overrides). PYTHON is the interpreter with
# mutmut installed; without it, the README's .venv is used.
#
# It prints, per MODULE, the mutants by status and the score: killed (or timed out) out of
# the non-equivalent ones. Equivalent mutants are those whose mutmut name
# (`...__mutmut_N`) is listed, with the reason, in a tests/**/MUTATION_NOTES.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tests=""
if [ "${1:-}" = "--tests" ]; then
  tests="$2"
  shift 2
fi
if [ $# -eq 0 ]; then
  echo "usage: $0 [--tests \"TEST_PATH...\"] MODULE..." >&2
  exit 2
fi
if [ -z "${PYTHON:-}" ]; then
  source "$root/scripts/setup.sh"
  PYTHON="$root/.venv/bin/python"
fi
case "$PYTHON" in */*) PYTHON="$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")" ;; esac

# Each argument -> its .py files, as paths inside the scratch copy (okgen moves to the top).
cd "$root"
modules=()
for module in "$@"; do
  module="${module%/}"
  [ -e "$module" ] || { echo "no module $module" >&2; exit 2; }
  while IFS= read -r file; do
    modules+=("${file#generator/}")
  done < <(find "$module" -name '*.py' | sort)
done
if [ -z "$tests" ]; then
  for module in "$@"; do
    dotted="${module#generator/}"
    dotted="${dotted%/}"
    dotted="${dotted%.py}"
    dotted="${dotted//\//.}"
    pattern="(from|import) ${dotted//./\\.}\b|from ${dotted%.*} import ${dotted##*.}\b"
    tests="$tests $(grep -rlE --include='test_*.py' "$pattern" tests || true)"
  done
  tests="$(printf '%s\n' $tests | sort -u | tr '\n' ' ')"
  if [ -z "${tests// /}" ]; then
    case "$1" in
      generator/*) tests="tests/generator" ;;
      *) tests="tests/components" ;;
    esac
  fi
fi
equivalent="$(find tests -name MUTATION_NOTES.md -exec grep -ohE '[A-Za-z0-9_.ǁ]+__mutmut_[0-9]+' {} + |
  sort -u || true)"

work="${MUTATION_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/okgen-mutation-XXXXXX")}"
mkdir -p "$work"
# The checkout's files, committed or not (ignored ones left out).
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | (cd "$work" && tar -xf -)
cd "$work"
rm -rf mutants setup.cfg
# mutmut imports mutated code from the top of the copy: okgen moves there, with its
# resources inside it as in a wheel (okgen/_resources.py looks there first).
if [ -d generator/okgen ]; then
  mv generator/okgen okgen
  cp -r templates okgen/templates
  cp -r component_library okgen/component_library
fi

sources=()
for module in "${modules[@]}"; do sources+=("${module%%/*}"); done
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
  # A loaded machine must not turn a slow test into a "timeout".
  echo "timeout_constant = 20"
} > setup.cfg

export HF_HUB_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1 ORT_DISABLE_TELEMETRY=1
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-/tmp/numba-cache}"
# One thread: a mutant forked from a process with a live OpenMP pool (torch) can deadlock.
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
echo "tests: $tests"
env -u PYTHONPATH nice -n 5 "$PYTHON" -m mutmut run --max-children "${MUTATION_JOBS:-2}" \
  > mutmut-run.log 2>&1 || { tail -40 mutmut-run.log; exit 1; }
env -u PYTHONPATH "$PYTHON" -m mutmut results --all true > mutmut-results.txt
echo "mutation score (work folder: $work)"
for module in "$@"; do
  module="${module%/}"
  name="${module#generator/}"
  name="${name%.py}"
  name="${name//\//.}"
  "$PYTHON" - "$module" "$name" "$equivalent" mutmut-results.txt <<'PY'
import collections
import re
import sys

module, name, equivalent, results = sys.argv[1], sys.argv[2], set(sys.argv[3].split()), sys.argv[4]
dead = ("killed", "timeout", "segfault", "caught by type check")
counts, survivors = collections.Counter(), []
for mutant, status in re.findall(r"^\s*(\S+__mutmut_\d+): (.+?)\s*$", open(results).read(), re.M):
    if not mutant.startswith(name + "."):
        continue
    status = "equivalent" if mutant in equivalent else status
    counts[status] += 1
    if status not in (*dead, "equivalent"):
        survivors.append(f"    {mutant}: {status}")
killed = sum(counts[status] for status in dead)
total = sum(counts.values()) - counts["equivalent"]
statuses = ", ".join(f"{status}={n}" for status, n in sorted(counts.items()))
if survivors:
    print("\n".join(survivors))
score = 100 * killed / total if total else 100.0
print(f"{module}: {sum(counts.values())} mutants ({statuses}), "
      f"killed {killed}/{total} non-equivalent = {score:.1f}%")
PY
done
