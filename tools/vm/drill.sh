#!/usr/bin/env bash
# Repeat the OOM drill N times per boot mode and print the success count.
#
#   tools/vm/drill.sh [N] [mode...]        default: N=10, modes v2 v1
#
# Per mode: boot a fresh VM (overlay), converge playbooks/site.yml on it with the VM
# scenario's overrides (vm.overcommit_memory=0, see extensions/molecule/vm/molecule.yml),
# then run extensions/molecule/vm/tests/test_oom_drill.py with VM_DRILL_REPEAT=N. The VMs
# of all modes boot at once and are stopped at the end. Results also go to
# ${ROCK5B_CACHE}/vm/logs/drill-*.log.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
[[ -n ${ROCK5B_ROOT:-} ]] || source tools/env.sh
source tools/vm/lib.sh

n=${1:-10}
shift || true
modes=("${@:-v2}")
(($# == 0)) && modes=(v2 v1)
insts=()
for m in "${modes[@]}"; do insts+=("rock5b-drill-$m"); done

bash tools/vm/build.sh
mkdir -p "$VM_CACHE/logs"
stamp=$(date +%Y%m%d-%H%M%S)
log="$VM_CACHE/logs/drill-$stamp.log"
cleanup() { for i in "${insts[@]}"; do bash tools/vm/stop.sh "$i" || true; done; }
trap cleanup EXIT

T=$SECONDS
pids=()
for m in "${modes[@]}"; do
    bash tools/vm/boot.sh "rock5b-drill-$m" "$m" & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
t_boot=$((SECONDS - T))

inv=$(mktemp --suffix=.yml)
{
    echo "rock5b:"
    echo "  vars:"
    echo "    ansible_python_interpreter: /usr/bin/python3"
    echo "    ansible_user: root"
    echo "    ansible_ssh_private_key_file: $VM_KEY"
    echo "    ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
    echo "    sysctl_profile_settings: {vm.overcommit_memory: 0}"
    echo "  hosts:"
    for i in "${insts[@]}"; do
        # shellcheck disable=SC1090
        port=$(source "$VM_RUN/$i/state"; echo "$VM_SSH_PORT")
        echo "    $i: {ansible_host: 127.0.0.1, ansible_port: $port}"
    done
} >"$inv"
T=$SECONDS
ansible-playbook -i "$inv" playbooks/site.yml | tee -a "$log"
t_converge=$((SECONDS - T))
rm -f "$inv"

T=$SECONDS
set +e
(cd extensions/molecule/vm/tests &&
    VM_INSTANCES=$(IFS=,; echo "${insts[*]}") VM_DRILL_REPEAT=$n \
        python -m pytest -p no:cacheprovider -rA -s test_oom_drill.py -k "test_oom_drill and not session") 2>&1 | tee -a "$log"
rc=${PIPESTATUS[0]}
set -e
t_drill=$((SECONDS - T))

echo
echo "==== OOM drill: $n run(s) per mode ===="
for i in "${insts[@]}"; do
    ok=$(grep -cE "^PASSED .*test_oom_drill\[[^]]*${i}[^]]*\]" "$log" || true)
    bad=$(grep -cE "^(FAILED|ERROR) .*test_oom_drill\[[^]]*${i}[^]]*\]" "$log" || true)
    secs=$(grep -oE "$i run [0-9]+: [0-9.]+s" "$log" | awk '{v = $4 + 0; t += v; if (v > m) m = v} END {if (NR) printf "mean %.0fs, max %.0fs", t / NR, m}' || true)
    printf '%-20s %2d/%d passed, %d failed; hog killed after: %s\n' "$i" "$ok" "$n" "$bad" "${secs:-?}"
done
printf 'boot %ds, converge %ds, drills %ds (log %s)\n' "$t_boot" "$t_converge" "$t_drill" "$log"
exit "$rc"
