#!/usr/bin/env bash
# Runs the main job from inside the execution environment the way AWX does: ansible-navigator
# starts the EE image (podman), which runs ansible-runner on an AWX-like project
# (tools/ee/project: a playbook importing rock5b.oom.site, its own ansible.cfg) against the
# lab inventory, with the lab's SSH key handed in as AWX hands in a machine credential.
# Twice, after drifting one board: the first pass must correct it, the second must report
# changed=0. Needs the lab (tools/lab.sh up) and the
# image (tools/ee/build.sh).
#
#   tools/ee/run.sh [image]     default localhost/rock5b-oom-ee:latest
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[ -n "${ROCK5B_ROOT:-}" ] || source "$repo/tools/env.sh"
image=${1:-localhost/rock5b-oom-ee:latest}
work=$repo/.cache/ee
log() { printf '[ee] %s\n' "$*" >&2; }

# ansible-navigator refuses to start a podman EE without /dev/mqueue (POSIX message queues,
# which it bind-mounts); some hosts' /dev lacks it, and /dev is rebuilt at every boot.
[ -d /dev/mqueue ] || mkdir -p /dev/mqueue

# The credential: a copy of the lab key readable by the EE's user (uid 1000, as in AWX),
# laid out as inventory/lab expects it ($ROCK5B_CACHE/ssh/id_ed25519).
creds=$work/credentials
rm -rf "$creds"
install -d -m 0700 -o 1000 "$creds" "$creds/ssh"
install -m 0600 -o 1000 "$ROCK5B_CACHE/ssh/id_ed25519" "$creds/ssh/id_ed25519"

navigate() { # $1 = pass name; prints the play recap lines
    # Nothing of the development set-up may leak in: no repository ansible.cfg, collections
    # path or roles path (tools/env.sh exports them), so rock5b.oom can only come from the EE.
    (cd "$repo/tools/ee/project" &&
        env -u ANSIBLE_CONFIG -u ANSIBLE_COLLECTIONS_PATH -u ANSIBLE_ROLES_PATH -u ANSIBLE_HOME \
            -u ANSIBLE_PRIVATE_KEY_FILE \
        ansible-navigator run site.yml -i "$repo/inventory/lab" \
            --ee true --ce podman --eei "$image" --pp never \
            --mode stdout --pae false --lf "$work/navigator-$1.log" \
            --co=--net=host --eev "$creds:$creds" --senv "ROCK5B_CACHE=$creds") \
        >"$work/run-$1.log" 2>&1 || {
        tail -n 60 "$work/run-$1.log" >&2
        log "$1 pass failed; full output: $work/run-$1.log"
        exit 1
    }
    grep -E '^lab-board-[0-9]+ +:' "$work/run-$1.log"
}

# Which rock5b.oom the EE sees: exactly one, the one installed in the image.
found=$(podman run --rm --entrypoint ansible-galaxy "$image" collection list rock5b.oom 2>/dev/null |
    grep -E '^# /' || true)
log "rock5b.oom in the EE: ${found:-none}"
[ "$found" = "# /usr/share/ansible/collections/ansible_collections" ] || {
    log "expected rock5b.oom only in /usr/share/ansible/collections"; exit 1; }

# Drift first, so the first pass has something to correct: lab-board-1's sysctl drop-in says
# vm.panic_on_oom = 1 (as tests/integration/test_report.py drifts it).
drift_file=/etc/sysctl.d/99-oom-rock5b.conf
podman exec lab-board-1 sh -ec "sed -i 's/^vm.panic_on_oom = 0\$/vm.panic_on_oom = 1/' $drift_file
    grep -q '^vm.panic_on_oom = 1\$' $drift_file"
log "drifted lab-board-1 ($drift_file: vm.panic_on_oom = 1)"

for pass in first second; do
    start=$(date +%s)
    recap=$(navigate "$pass")
    printf '%s\n' "$recap" >&2
    log "$pass pass from $image: $(( $(date +%s) - start ))s"
    if grep -E 'failed=[1-9]|unreachable=[1-9]' <<<"$recap" >/dev/null; then
        log "$pass pass: a board failed or was unreachable"; exit 1
    fi
    [ "$(grep -c . <<<"$recap")" -ge 3 ] || { log "$pass pass: expected 3 boards in the recap"; exit 1; }
    if [ "$pass" = first ] && ! grep -E '^lab-board-1 +:.* changed=[1-9]' <<<"$recap" >/dev/null; then
        log "first pass: the drift on lab-board-1 was not corrected (changed=0)"; exit 1
    fi
done
if grep -E 'changed=[1-9]' <<<"$recap" >/dev/null; then
    log "second pass changed something: not idempotent from the EE"; exit 1
fi
log "converged from the EE twice; second pass changed=0"
