#!/usr/bin/env bash
# Side-by-side monitor benchmark in the real-kernel arm64 VM (2 GiB, cgroup v2, PSI on):
# rock5b-oom-monitor (the role's defaults), the lesson's bash monitor (verbatim, as a
# service) and Debian's earlyoom (-M 204800), one after the other on one boot.
#
#   bench/monitor/run-vm.sh [instance] [bench_monitor.py arguments]     (make bench-monitor)
#
# Boots the instance (default mbench) when it is not running, and stops it again at the end.
# Needs `source tools/env.sh` and the VM image (make vm-image). earlyoom's arm64 .deb comes
# from Debian's archive (tools/vm/fetch-deb.sh: checked against the arm64 Packages index). Prints the figures and the table; changes nothing on this host.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
inst=mbench
if [[ $# -gt 0 && $1 != -* ]]; then inst=$1; shift; fi
cache="${ROCK5B_CACHE:-/var/cache/rock5b-oom}"

state="$cache/vm/run/$inst/state.json"
booted=""
if ! [[ -f $state ]] || ! bash "$ROOT/tools/vm/ssh.sh" "$inst" true 2>/dev/null; then
    bash "$ROOT/tools/vm/boot.sh" "$inst" v2
    booted=1
fi
cleanup() { [[ -z $booted ]] || bash "$ROOT/tools/vm/stop.sh" "$inst"; }
trap cleanup EXIT

port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$state")
key=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["key"])' "$state")
opts=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o IdentitiesOnly=yes
    -o BatchMode=yes -i "$key")
deb=$(bash "$ROOT/tools/vm/fetch-deb.sh" earlyoom bookworm)

play=$(mktemp --suffix=.yml)
trap 'rm -f "$play"; cleanup' EXIT
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

scp "${opts[@]}" -P "$port" "$ROOT/bench/monitor/bench_monitor.py" "$ROOT/bench/seed/oom-monitor.sh" \
    "$ROOT/bench/seed/oom-monitor.service" "$deb" root@127.0.0.1:/root/
ssh "${opts[@]}" -p "$port" root@127.0.0.1 bash -s "$(basename "$deb")" <<'SETUP'
set -euo pipefail
# earlyoom as Debian ships it (binary and unit), unpacked without its maintainer scripts so
# that it stays disabled until the benchmark starts it. Not `dpkg-deb -x ... /`: the .deb's
# ./lib directory would replace merged-/usr's /lib symlink and break the dynamic loader.
rm -rf /root/earlyoom && dpkg-deb -x "/root/$1" /root/earlyoom
install -m 0755 /root/earlyoom/usr/bin/earlyoom /usr/bin/earlyoom
unit=$(find /root/earlyoom -name earlyoom.service | head -n1)
install -m 0644 "$unit" /etc/systemd/system/earlyoom.service
echo 'EARLYOOM_ARGS="-r 3600 -M 204800"' >/etc/default/earlyoom
install -m 0755 /root/oom-monitor.sh /usr/local/bin/oom-monitor.sh
install -m 0644 /root/oom-monitor.service /etc/systemd/system/oom-monitor.service
systemctl daemon-reload
SETUP
ssh "${opts[@]}" -p "$port" root@127.0.0.1 python3 -u /root/bench_monitor.py --json /root/bench.json "$@"
