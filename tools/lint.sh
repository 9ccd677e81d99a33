#!/usr/bin/env bash
# Lints the collection: ansible-lint (production profile, yamllint included through its
# yaml rule) and yamllint on the YAML files ansible-lint does not own.
# Offline: .ansible-lint sets offline: true; collections come from .cache/collections.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -n "${ROCK5B_ROOT:-}" ] || source tools/env.sh

# ansible-lint puts .cache/ansible/collections first on the collections path; a copy of this
# collection left there (by an ansible-compat install) would shadow the working tree's.
rm -rf .cache/ansible/collections/ansible_collections/rock5b
ansible-lint --offline --profile production
yamllint -s -c .yamllint .
# The changelog: fragments and changelogs/changelog.yaml (CHANGELOG.md is generated from them;
# tests/unit/test_changelog.py checks it is up to date).
antsibull-changelog lint
antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml
# The docs site: module/role/filter docs and the guides' stubs (tools/docs.sh).
bash tools/docs.sh lint
# Shell scripts of the test bed (warnings and errors; SC2034 "unused" is noise for the
# sourced libraries).
mapfile -t scripts < <(git ls-files -- '*.sh' .ci/run)
if [ "${#scripts[@]}" -gt 0 ]; then
    shellcheck -x -S warning -e SC2034 "${scripts[@]}"
fi
