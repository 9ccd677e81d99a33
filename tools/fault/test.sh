#!/usr/bin/env bash
# make fault-test: the fault tests of issue #20.
# 1. On the lab (tests/integration/test_rollout_faults.py): a board losing power in the middle of
#    its rollout batch (the rollout stops, a rerun finishes it) and SSH cut mid-run (the next run
#    converges). A lab this script started is removed afterwards, as make integration does.
# 2. On one bookworm arm64 VM (tests/fault/faults.py): power cuts (kill -9 of qemu) mid site.yml,
#    a full root file system, a read-only root. Prints the fault x repetition x outcome table and
#    the wall time; the log goes to ${ROCK5B_CACHE}/vm/logs/fault-<time>.log.
# Env: FAULT_POWER_CUTS (5), FAULT_SEED (random, printed), FAULT_KEEP=1 (leave the VM fault-vm
# up), FAULT_PARTS (lab vm; default both). Run after `source tools/env.sh`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../vm/lib.sh"
vm_image_dir >/dev/null
mkdir -p "$VM_CACHE/logs"
logfile="$VM_CACHE/logs/fault-$(date +%Y%m%d-%H%M%S).log"
start=$SECONDS
parts=${FAULT_PARTS:-lab vm}
rc=0
set +e
if [[ " $parts " == *" lab "* ]]; then
    was_up=$(podman ps -q --filter label=rock5b-oom-lab=1)
    bash "$ROCK5B_ROOT/tools/lab.sh" up &&
        python -m pytest -s -p no:cacheprovider "$ROCK5B_ROOT/tests/integration/test_rollout_faults.py" 2>&1 | tee "$logfile.lab"
    lab_rc=${PIPESTATUS[0]}
    [[ -n $was_up ]] || bash "$ROCK5B_ROOT/tools/lab.sh" down
    [[ $lab_rc -eq 0 ]] || rc=$lab_rc
    printf 'fault-test lab part: %d s, rc %d\n' $((SECONDS - start)) "$lab_rc"
fi
if [[ " $parts " == *" vm "* ]]; then
    python3 "$ROCK5B_ROOT/tests/fault/faults.py" 2>&1 | tee "$logfile"
    vm_rc=${PIPESTATUS[0]}
    [[ $vm_rc -eq 0 ]] || rc=$vm_rc
fi
set -e
printf '\nmake fault-test: %d s wall (log: %s), rc %d\n' $((SECONDS - start)) "$logfile" "$rc"
exit "$rc"
