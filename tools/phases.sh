#!/usr/bin/env bash
# make test: run each phase (a make target) in order and time it; stop at the first that fails.
# The timings are printed either way, so a slow phase shows in every run (CI's log included).
#   tools/phases.sh lint sanity unit molecule integration
set -uo pipefail
names=() seconds=()
rc=0
for phase in "$@"; do
    start=$SECONDS
    make --no-print-directory "$phase"
    rc=$?
    names+=("$phase") seconds+=($((SECONDS - start)))
    [[ $rc -eq 0 ]] || break
done
printf '\n==== make test: phases (seconds) ====\n'
total=0
for i in "${!names[@]}"; do
    printf '%-12s %5d\n' "${names[$i]}" "${seconds[$i]}"
    total=$((total + seconds[i]))
done
printf '%-12s %5d%s\n' total "$total" "$([[ $rc -eq 0 ]] || echo "  (stopped: ${names[-1]} failed, rc $rc)")"
exit "$rc"
