#!/usr/bin/env bash
# make vm-test: the real-kernel arm64 VM scenario from a fresh clone, with timings.
#
#   tools/vm/test.sh            build the image (cached), then `molecule test -s vm`
#
# Env: VM_TEST_ENABLE (optional-role tests, see extensions/molecule/vm/tests/conftest.py),
# VM_DRILL_REPEAT (OOM drill runs per VM, default 1), VM_BOOT_PARALLEL (1 = boot the
# VMs at once, default; 0 = one after the other). The full log goes to
# ${ROCK5B_CACHE}/vm/logs/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
[[ -n ${ROCK5B_ROOT:-} ]] || source tools/env.sh
source tools/vm/lib.sh

T0=$SECONDS
# One image per Debian release the scenario boots (molecule.yml's vm_suite).
bash tools/vm/build.sh
VM_SUITE=trixie bash tools/vm/build.sh
t_build=$((SECONDS - T0))

mkdir -p "$VM_CACHE/logs"
log="$VM_CACHE/logs/vm-test-$(date +%Y%m%d-%H%M%S).log"
vm_log "molecule test -s vm (log: $log)"
results="$VM_CACHE/logs/results-$(date +%Y%m%d-%H%M%S).json"
export VM_RESULTS_JSON="$results"
T1=$SECONDS
# every line time-stamped (seconds since start) so that each action's time shows
set +e
molecule test -s vm 2>&1 | while IFS= read -r line; do
    printf '%5d %s\n' $((SECONDS - T1)) "$line"
done | tee "$log"
rc=${PIPESTATUS[0]}
set -e
t_molecule=$((SECONDS - T1))
# molecule destroys at the end, but not when it crashes: never leave VMs behind
for d in "$VM_RUN"/rock5b-vm-*/; do
    [[ -d $d ]] && bash tools/vm/stop.sh "$(basename "$d")"
done
# The feature x platform table in tools/vm/README.md, from this run's results.
python3 tools/vm/feature_table.py "$results" --molecule-log "$log" || echo "feature table: not updated (see above)"

# seconds at which each molecule action started ("<t> INFO vm ➜ create: Executing")
action_times() {
    sed 's/\x1b\[[0-9;]*m//g' "$log" |
        sed -nE 's/^ *([0-9]+) .* ➜ ([a-z_]+): Executing.*/\2 \1/p' |
        awk '$1 != last {print; last = $1}'
}
echo
echo "==== rock5b VM scenario timings ===="
printf '%-22s %5ds\n' "image build" "$t_build"
sed 's/\x1b\[[0-9;]*m//g' "$log" |
    sed -nE 's/.*\] ([^ ]+) up: boot-to-SSH ([0-9.]+)s \(mode ([a-z0-9]+).*/\1 \2 \3/p' |
    while read -r inst secs mode; do printf '%-22s %5ss  (%s, mode %s)\n' "boot-to-SSH" "$secs" "$inst" "$mode"; done
prev_name="" prev_t=0
while read -r name t; do
    [[ -n $prev_name ]] && printf '%-22s %5ds\n' "$prev_name" $((t - prev_t))
    prev_name=$name prev_t=$t
done < <(action_times; echo "end $t_molecule")
printf '%-22s %5ds\n' "molecule total" "$t_molecule"
printf '%-22s %5ds\n' "total" $((SECONDS - T0))
sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '(passed|failed|error).* in [0-9.]+s' | tail -1 |
    sed -E 's/^ *[0-9]+ +[│ ]*/verify: /' || true
echo "molecule exit status: $rc"
exit "$rc"
