#!/usr/bin/env bash
# The local lab: N simulated Rock 5B+ boards (arm64 bookworm containers with systemd and sshd)
# on loopback SSH ports, converged with playbooks/site.yml exactly as a real fleet is.
#
#   tools/lab.sh up     start the boards (if needed), converge twice (the second must be
#                       changed=0), then audit (must show no drift)
#   tools/lab.sh down   remove the boards
#
# Env: LAB_BOARDS (default 3; inventory/lab/hosts.yml names 3), LAB_IMAGE.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
boards=${LAB_BOARDS:-3}
image=${LAB_IMAGE:-localhost/rock5b-board:latest}
label=rock5b-oom-lab

log() { printf '[lab] %s\n' "$*" >&2; }

remove_board() { # $1 = container name; a board whose processes died behind podman's back can
    # take podman a moment to clean up, so removal is retried before it counts as failed.
    local try
    for try in 1 2 3 4 5; do
        podman container exists "$1" || return 0
        podman rm -f -t 5 "$1" >/dev/null 2>"$repo/.cache/lab-rm.err" && return 0
        log "removing $1 failed (try $try): $(tr '\n' ' ' <"$repo/.cache/lab-rm.err")"
        sleep 2
    done
    return 1
}

start_board() { # $1 = board number
    local name=lab-board-$1 port=$((2220 + $1))
    # podman's record says "running" for a board whose processes are gone (the session or the
    # machine that started it ended, /run survived): only a command run inside proves it is up.
    if [ "$(podman container inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = true ] &&
        timeout 30 podman exec "$name" true >/dev/null 2>&1; then
        return
    fi
    remove_board "$name"
    # Never --privileged: /proc/sys must stay read-only so nothing here changes the host's vm.*.
    podman run -d --name "$name" --hostname "$name" --label "$label=1" \
        --systemd=always --stop-signal=39 --stop-timeout=20 \
        -p "127.0.0.1:$port:22" "$image" /sbin/init >/dev/null
    log "started $name on 127.0.0.1:$port"
}

install_demo_app() { # $1 = board number
    # Every real board runs some application; the lab's stands in for it (a kiosk, an NVR...)
    # so the roles have a workload to limit (cgroup_limits) and mark expendable
    # (protect_daemons). Installing it is the board owner's job, not the collection's.
    podman exec "lab-board-$1" sh -c '
        [ -f /etc/systemd/system/demo-app.service ] && exit 0
        printf "%s\n" "[Unit]" "Description=The board application (lab stand-in)" "" \
            "[Service]" "ExecStart=/bin/sleep infinity" "" "[Install]" "WantedBy=multi-user.target" \
            > /etc/systemd/system/demo-app.service
        systemctl daemon-reload && systemctl enable --now demo-app.service'
}

wait_for_ssh() { # $1 = board number
    local port=$((2220 + $1)) deadline=$((SECONDS + 180))
    until ssh -q -o BatchMode=yes -o ConnectTimeout=5 -o StrictHostKeyChecking=no \
            -o UserKnownHostsFile=/dev/null -i "$ROCK5B_CACHE/ssh/id_ed25519" -p "$port" \
            root@127.0.0.1 true 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then
            log "lab-board-$1: no SSH after 180 s"; podman logs --tail 30 "lab-board-$1" >&2 || true
            exit 1
        fi
        sleep 2
    done
}

up() {
    local i
    for i in $(seq 1 "$boards"); do start_board "$i"; done
    for i in $(seq 1 "$boards"); do wait_for_ssh "$i"; install_demo_app "$i"; done
    log "boards reachable over SSH; converging (first pass)"
    ansible-playbook -i inventory/lab playbooks/site.yml
    log "second pass: a converged fleet must report changed=0"
    ansible-playbook -i inventory/lab playbooks/site.yml | tee "$repo/.cache/lab-second-pass.log"
    if grep -E 'changed=[1-9]' "$repo/.cache/lab-second-pass.log" >/dev/null; then
        log "the second pass changed something: not idempotent"; exit 1
    fi
    log "lab converged: changed=0 on the second pass; auditing (check mode, exits non-zero on drift)"
    ansible-playbook -i inventory/lab playbooks/audit.yml
    log "audit clean: no board drifted"
}

down() {
    podman ps -a --filter "label=$label=1" -q | xargs -r podman rm -f >/dev/null
    log "lab removed"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
