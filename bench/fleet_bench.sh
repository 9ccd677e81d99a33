#!/usr/bin/env bash
# Fleet benchmark entry point (docs/benchmarks.md): sets up what bench/fleet_bench.py needs - the
# repository's environment, mitogen (bench/requirements.txt) in .venv, the arm64 lab image and
# the amd64 bench image (both cached) - then runs it.
#   bench/fleet_bench.sh run [--reps 3] [--sizes 1,5,25] [--compare-size 5] [--no-arm64] [--keep] [--worktree]
#   bench/fleet_bench.sh count [--arch arm64|amd64] [--extra-roles monitor,cgroup_limits] [--worktree]
#   bench/fleet_bench.sh floor [--reps 5] [--sizes 1,5,25] [--modes pipelining,mitogen]
#   bench/fleet_bench.sh down
# The playbooks run from a clean export of HEAD unless --worktree.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=../tools/env.sh
source tools/env.sh
if ! pip install -q --disable-pip-version-check -r bench/requirements.txt >/tmp/rock5b-bench-pip.log 2>&1; then
    cat /tmp/rock5b-bench-pip.log >&2; exit 1
fi
case "${1:-run}" in
    run|count|floor)
        podman image exists localhost/rock5b-board:latest || bash tools/image/build.sh
        if [ "${1:-run}" != count ] || [[ " $* " == *" amd64"* ]]; then
            bash bench/build_amd64_image.sh >/dev/null
        fi ;;
esac
exec python bench/fleet_bench.py "${@:-run}"
