#!/usr/bin/env bash
# Run bench_monitor.py in a running test-bed VM (tools/vm/boot.sh <instance>) after installing
# the monitor there with the role:
#
#   bench/monitor/run-vm.sh <instance> [bench_monitor.py arguments]
#
# Needs `source tools/env.sh`. Prints the figures; changes nothing on this host.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
inst=${1:?usage: run-vm.sh <instance> [bench arguments]}
shift
state="${ROCK5B_CACHE:-/var/cache/rock5b-oom}/vm/run/$inst/state.json"
[[ -f $state ]] || { echo "no VM instance $inst ($state)" >&2; exit 1; }
port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$state")
key=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["key"])' "$state")
opts=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o IdentitiesOnly=yes
    -o BatchMode=yes -i "$key")
play=$(mktemp --suffix=.yml)
trap 'rm -f "$play"' EXIT
cat >"$play" <<'PLAY'
- name: Install the monitor for the benchmark
  hosts: all
  gather_facts: false
  become: true
  roles:
    - role: rock5b.oom.monitor
PLAY
ansible-playbook -i "127.0.0.1," -e ansible_port="$port" -e ansible_user=root \
    -e ansible_ssh_private_key_file="$key" -e ansible_python_interpreter=/usr/bin/python3 \
    -e 'ansible_ssh_common_args="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"' "$play"
scp "${opts[@]}" -P "$port" "$ROOT/bench/monitor/bench_monitor.py" root@127.0.0.1:/root/bench_monitor.py
ssh "${opts[@]}" -p "$port" root@127.0.0.1 python3 /root/bench_monitor.py "$@"
