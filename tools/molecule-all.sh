#!/usr/bin/env bash
# Runs `molecule test` for each scenario given, MOLECULE_JOBS at a time
# (default 4), each in its own container. A scenario's output goes to
# .cache/molecule-logs/SCENARIO.log and is printed whole once it ends, so
# outputs do not interleave. Exits 1 when any scenario failed, after naming it.
#
# Usage: tools/molecule-all.sh SCENARIO...
set -uo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 SCENARIO..." >&2
  exit 2
fi

jobs_max=${MOLECULE_JOBS:-4}
case "$jobs_max" in
  '' | *[!0-9]* | 0)
    echo "MOLECULE_JOBS='$jobs_max' is invalid: set it to a whole number of 1 or more." >&2
    exit 2
    ;;
esac

molecule=${MOLECULE:-molecule}
log_dir=.cache/molecule-logs
mkdir -p "$log_dir"

declare -A pid_of=()
declare -A started=()
failed=()

report() {
  local scenario=$1 status=$2
  local seconds=$(( $(date +%s) - started[$scenario] ))
  echo "===== molecule scenario $scenario: exit $status after ${seconds} s ====="
  cat "$log_dir/$scenario.log"
  echo "===== end of molecule scenario $scenario ====="
  if [ "$status" -ne 0 ]; then
    failed+=("$scenario")
  fi
}

# Waits for any one running scenario and reports it.
reap_one() {
  local scenario status
  while true; do
    for scenario in "${!pid_of[@]}"; do
      if ! kill -0 "${pid_of[$scenario]}" 2>/dev/null; then
        wait "${pid_of[$scenario]}"
        status=$?
        unset "pid_of[$scenario]"
        report "$scenario" "$status"
        return
      fi
    done
    sleep 2
  done
}

for scenario in "$@"; do
  if [ ! -f "molecule/$scenario/molecule.yml" ]; then
    echo "Molecule scenario '$scenario' not found: molecule/$scenario/molecule.yml is missing." >&2
    exit 2
  fi
done

for scenario in "$@"; do
  while [ "${#pid_of[@]}" -ge "$jobs_max" ]; do
    reap_one
  done
  echo "Starting molecule scenario $scenario"
  started[$scenario]=$(date +%s)
  "$molecule" test -s "$scenario" > "$log_dir/$scenario.log" 2>&1 &
  pid_of[$scenario]=$!
done

while [ "${#pid_of[@]}" -gt 0 ]; do
  reap_one
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "Molecule scenarios that failed: ${failed[*]}" >&2
  exit 1
fi
echo "Molecule scenarios passed: $*"
