#!/usr/bin/env bash
# make fault-test: the real-kernel fault tests of issue #20 (tests/fault/faults.py) on one
# bookworm arm64 VM: power cuts (kill -9 of qemu) mid site.yml, a full root file system, a
# read-only root. Prints the fault x repetition x outcome table and the wall time; the log goes
# to ${ROCK5B_CACHE}/vm/logs/fault-<time>.log. Env: FAULT_POWER_CUTS (5), FAULT_SEED (random,
# printed), FAULT_KEEP=1 (leave the VM fault-vm up). Run after `source tools/env.sh`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../vm/lib.sh"
vm_image_dir >/dev/null
mkdir -p "$VM_CACHE/logs"
logfile="$VM_CACHE/logs/fault-$(date +%Y%m%d-%H%M%S).log"
start=$SECONDS
set +e
python3 "$ROCK5B_ROOT/tests/fault/faults.py" 2>&1 | tee "$logfile"
rc=${PIPESTATUS[0]}
set -e
printf '\nmake fault-test: %d s wall (log: %s), rc %d\n' $((SECONDS - start)) "$logfile" "$rc"
exit "$rc"
