#!/usr/bin/env bash
# `ansible-test sanity` on the collection, offline apart from PyPI.
#
# ansible-test must run inside .../ansible_collections/<namespace>/<name>: the collection is
# built (ansible-galaxy collection build, honouring galaxy.yml's build_ignore) and installed
# into .cache/sanity/ansible_collections/rock5b/oom, which also proves build + install work.
#
# Test venvs (--venv): ansible-test bootstraps pip in each venv with a get-pip.py that it
# downloads from ci-files.testing.ansible.com (ansible_test/_util/target/setup/
# requirements.py: bootstrap()), unreachable here. It uses a cached copy when
# ~/.ansible/test/cache/get_pip_<version>.py exists, so this script runs ansible-test with
# HOME=$ROCK5B_CACHE/ansible-test-home and puts a local stand-in there that installs the same
# pip version from PyPI's wheel. The test venvs stay in that HOME between runs and clones.
#
# Sanity tests that cannot run here (each with the reason):
#   pslint - needs PowerShell (pwsh), which Debian does not package; the collection has no
#            PowerShell code, so ansible-test has nothing to run it on anyway.
# Everything else runs; any finding fails the script.
#
# Usage: tools/sanity.sh [extra ansible-test sanity args, e.g. --test pylint]
# Env (defaults: ansible-core 2.19 of .venv, Python 3.11, .cache/sanity; tools/core_matrix.sh
# sets them for another ansible-core):
#   ROCK5B_SANITY_VENV     controller venv whose ansible-galaxy/ansible-test are used
#   ROCK5B_SANITY_PYTHONS  Python versions to test, space-separated (one ansible-test run each)
#   ROCK5B_SANITY_WORK     where the collection is built and installed
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
[ -n "${ROCK5B_ROOT:-}" ] || source tools/env.sh

SKIP=(pslint)

if [ -n "${ROCK5B_SANITY_VENV:-}" ]; then
    [ -x "$ROCK5B_SANITY_VENV/bin/ansible-test" ] || {
        echo "tools/sanity.sh: no ansible-test in ROCK5B_SANITY_VENV=$ROCK5B_SANITY_VENV" >&2; exit 1; }
    export VIRTUAL_ENV=$ROCK5B_SANITY_VENV
    export PATH=$VIRTUAL_ENV/bin:$PATH
fi
read -r -a pythons <<<"${ROCK5B_SANITY_PYTHONS:-3.11}"
[ "${#pythons[@]}" -gt 0 ] || { echo "tools/sanity.sh: ROCK5B_SANITY_PYTHONS is empty" >&2; exit 1; }

work=${ROCK5B_SANITY_WORK:-$repo/.cache/sanity}
dest=$work/ansible_collections/rock5b/oom
log() { printf '[sanity] %s\n' "$*" >&2; }

# --- build + install the collection -------------------------------------------------------
rm -rf "$work/dist" "$dest"
mkdir -p "$work/dist"
ansible-galaxy collection build --force --output-path "$work/dist" . >/dev/null
tarball=$(ls "$work"/dist/rock5b-oom-*.tar.gz)
ansible-galaxy collection install --force --no-deps --offline -p "$work" "$tarball" >/dev/null 2>&1 ||
    ansible-galaxy collection install --force --no-deps --offline -p "$work" "$tarball"
log "built and installed $(basename "$tarball") into ${dest#"$repo"/}"
# ansible-galaxy's install metadata is not part of the source tree ansible-test checks.
rm -f "$dest/FILES.json"
# ansible-test lists files with git when it is inside a work tree; .cache/ is ignored by the
# repo's .gitignore, so the copy gets a work tree of its own (index only, no commit). Its
# ignore list is the copy's own: galaxy.yml may keep .gitignore out of the artifact, and
# ansible-test's output (tests/output) must not be taken for content.
git -C "$dest" init -q
printf '%s\n' '/tests/output/' >>"$dest/.git/info/exclude"
git -C "$dest" add -A

# --- local stand-in for ansible-test's get-pip.py -------------------------------------------
export HOME=$ROCK5B_CACHE/ansible-test-home
export PIP_CACHE_DIR=$ROCK5B_CACHE/pip-cache
# One pip version per tested Python (ansible-test's get_venv_packages), so one stand-in each.
for pyver in "${pythons[@]}"; do
pip_version=$(python - "$pyver" <<'EOF'
import sys, types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version=sys.argv[1]))["pip"])
EOF
)
wheels=$ROCK5B_CACHE/pypi
wheel=$wheels/pip-$pip_version-py3-none-any.whl
if [ ! -f "$wheel" ]; then
    mkdir -p "$wheels"
    python -m pip download -q --no-deps --only-binary=:all: -d "$wheels" "pip==$pip_version"
fi
get_pip=$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py
mkdir -p "$(dirname "$get_pip")"
cat > "$get_pip.tmp" <<EOF
# Local stand-in for get-pip-$pip_version.py (written by tools/sanity.sh): installs pip
# $pip_version into the running interpreter from PyPI's wheel in $wheels, without network.
import os, runpy, sys
WHEEL = "$wheel"
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.path.insert(0, WHEEL)
sys.argv = ["pip", "install", "--no-index", "--find-links", os.path.dirname(WHEEL),
            "--upgrade", "--force-reinstall"] + args
runpy.run_module("pip", run_name="__main__", alter_sys=True)
EOF
mv "$get_pip.tmp" "$get_pip"
done

# --- run -------------------------------------------------------------------------------------
skip_args=()
for t in "${SKIP[@]}"; do skip_args+=(--skip-test "$t"); done
cd "$dest"
core=$(ansible-test --version | awk '{print $NF}')
for pyver in "${pythons[@]}"; do
    log "ansible-test $core sanity --venv --python $pyver (skipping: ${SKIP[*]})"
    ansible-test sanity --venv --python "$pyver" --color no "${skip_args[@]}" "$@"
done
