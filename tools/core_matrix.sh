#!/usr/bin/env bash
# The collection on each ansible-core that meta/runtime.yml allows (requires_ansible
# ">=2.19.0,<2.22.0"): `ansible-test sanity` (tools/sanity.sh) and the unit tests (tests/unit)
# with that core's controller venv, timed. Breaks on the newer core show up in CI.
#
#   2.19  .venv (tools/setup.sh, requirements-dev.txt), Python 3.11, sanity on 3.11
#   2.21  .cache/core-2.21/venv, Python 3.13, from tests/requirements-core-2.21.txt (made here,
#         recreated only when that file or the interpreter changes), sanity on 3.13
#
# Python 3.13 is taken from ROCK5B_PYTHON313 if set, else python3.13 on PATH, else pyenv
# (`pyenv prefix 3.13.x`, or ${PYENV_ROOT:-~/.pyenv}/versions/3.13.*). When none exists the
# script FAILS (exit 2) saying so: a core is never skipped silently.
#
# Every core runs both steps, even after a failure; the script exits non-zero when any step
# failed and prints a table of wall times and results.
# Usage: tools/core_matrix.sh [2.19] [2.21]   (default: both)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
[ -n "${ROCK5B_ROOT:-}" ] || source tools/env.sh

log() { printf '[core-matrix] %s\n' "$*" >&2; }
die() { printf '[core-matrix] ERROR: %s\n' "$*" >&2; exit 2; }

# Python 3.13 interpreter (absolute path) for the 2.21 controller, or fail.
find_python313() {
    local cand root
    local -a cands=()
    [ -n "${ROCK5B_PYTHON313:-}" ] && cands+=("$ROCK5B_PYTHON313")
    cand=$(command -v python3.13 || true); [ -n "$cand" ] && cands+=("$cand")
    if command -v pyenv >/dev/null; then
        cand=$(pyenv versions --bare 2>/dev/null | grep -E '^3\.13\.[0-9]+$' | sort -V | tail -n1 || true)
        [ -n "$cand" ] && cands+=("$(pyenv prefix "$cand")/bin/python3.13")
    fi
    root=${PYENV_ROOT:-$HOME/.pyenv}
    for cand in $(compgen -G "$root/versions/3.13.*/bin/python3.13" | sort -V -r); do cands+=("$cand"); done
    for cand in "${cands[@]}"; do
        if [ -x "$cand" ] && "$cand" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
            echo "$cand"; return 0
        fi
    done
    die "ansible-core 2.21 needs Python 3.13 and none was found (tried: ${cands[*]:-nothing}; ROCK5B_PYTHON313, python3.13 on PATH, pyenv, $root/versions/3.13.*). Install it (pyenv install 3.13) or set ROCK5B_PYTHON313=/path/to/python3.13."
}

# Controller venv at $1 with Python $2 from requirements file $3; recreated when either changes.
ensure_venv() {
    local venv=$1 python=$2 req=$3 want piplog
    want="$(sha256sum "$req" | cut -d' ' -f1) $python"
    [ "$(cat "$venv/.rock5b-stamp" 2>/dev/null || true)" = "$want" ] && return 0
    log "creating ${venv#"$repo"/} with $python from ${req#"$repo"/}"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    piplog=$(mktemp)
    if ! { "$venv/bin/python" -m pip install --upgrade pip && "$venv/bin/python" -m pip install -r "$req"; } >"$piplog" 2>&1; then
        cat "$piplog" >&2; rm -f "$piplog"; die "could not install ${req#"$repo"/} into ${venv#"$repo"/}"
    fi
    rm -f "$piplog"
    echo "$want" > "$venv/.rock5b-stamp"
}

cores=("$@")
[ "${#cores[@]}" -gt 0 ] || cores=(2.19 2.21)

results=()
rc=0
for core in "${cores[@]}"; do
    case "$core" in
        2.19)
            [ -x "$repo/.venv/bin/ansible-test" ] || die "no .venv: run tools/setup.sh (make setup) first"
            venv=$repo/.venv pythons=3.11 work=$repo/.cache/sanity ;;
        2.21)
            venv=$repo/.cache/core-2.21/venv pythons=3.13 work=$repo/.cache/core-2.21/sanity
            python313=$(find_python313)  # exits here (set -e) when there is none
            ensure_venv "$venv" "$python313" "$repo/tests/requirements-core-2.21.txt" ;;
        *) die "unknown ansible-core '$core' (known: 2.19 2.21)" ;;
    esac
    version=$("$venv/bin/ansible-test" --version | awk '{print $NF}')
    case "$version" in "$core".*) ;; *) die "${venv#"$repo"/} has ansible-core $version, not $core" ;; esac

    log "ansible-core $version: sanity (Python $pythons)"
    start=$(date +%s)
    if ROCK5B_SANITY_VENV=$venv ROCK5B_SANITY_PYTHONS=$pythons ROCK5B_SANITY_WORK=$work bash tools/sanity.sh; then
        sanity=ok
    else
        sanity=FAILED; rc=1
    fi
    sanity_s=$(( $(date +%s) - start ))

    log "ansible-core $version: unit tests ($("$venv/bin/python" -V))"
    start=$(date +%s)
    # The unit tests run ansible-playbook from PATH: that venv's, like its python.
    if VIRTUAL_ENV=$venv PATH=$venv/bin:$PATH "$venv/bin/python" -m pytest tests/unit -q -p no:cacheprovider; then
        unit=ok
    else
        unit=FAILED; rc=1
    fi
    unit_s=$(( $(date +%s) - start ))
    results+=("$(printf '%-12s %-8s %-8s %6ss %-8s %6ss' "$version" "$("$venv/bin/python" -c 'import platform; print(platform.python_version())')" "$sanity" "$sanity_s" "$unit" "$unit_s")")
done

printf '\n%-12s %-8s %-8s %7s %-8s %7s\n' ansible-core python sanity time unit time
printf '%s\n' "${results[@]}"
exit "$rc"
