#!/usr/bin/env bash
# Shut a VM down and throw its overlay away:  tools/vm/stop.sh <instance>|--all
# Asks the guest to power off over SSH, then QMP/SIGTERM, then SIGKILL; never fails for
# an instance that is not running.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

stop_one() {
    local inst=$1 rundir="$VM_RUN/$1" pid=""
    [[ -d $rundir ]] || { vm_log "$inst: not running"; return 0; }
    pid=$(vm_live_pid "$inst")
    if [[ -n $pid ]]; then
        timeout 10 bash -c "source '$VM_DIR_TOOLS/lib.sh'; vm_ssh '$inst' 'systemctl poweroff --no-block'" >/dev/null 2>&1 || true
        for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        fi
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -rf "$rundir"
    vm_log "$inst: stopped, overlay removed"
}

if [[ ${1:-} == --all ]]; then
    for d in "$VM_RUN"/*/; do [[ -d $d ]] && stop_one "$(basename "$d")"; done
else
    stop_one "${1:?usage: stop.sh <instance>|--all}"
fi
