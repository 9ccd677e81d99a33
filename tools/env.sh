# shellcheck shell=bash
# Sourced (bash) by the Makefile targets and usable by hand: `source tools/env.sh`.
# Puts the test bed's tools first on PATH and points Ansible, molecule and podman at the
# repository's configuration. Works from any working directory.
ROCK5B_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export ROCK5B_ROOT
export ROCK5B_CACHE=${ROCK5B_CACHE:-/var/cache/rock5b-oom}

export VIRTUAL_ENV=$ROCK5B_ROOT/.venv
case ":$PATH:" in
    *":$VIRTUAL_ENV/bin:"*) ;;
    *) export PATH=$VIRTUAL_ENV/bin:$PATH ;;
esac

# podman: runc + ulimits (tools/podman/containers.conf)
export CONTAINERS_CONF=$ROCK5B_ROOT/tools/podman/containers.conf

# Ansible: the repo's ansible.cfg whatever the cwd (molecule runs playbooks from its
# scenario directory); collections only from .cache/collections (tools/setup.sh), never
# from Galaxy or ~/.ansible.
export ANSIBLE_CONFIG=$ROCK5B_ROOT/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH=$ROCK5B_ROOT/.cache/collections
export ANSIBLE_ROLES_PATH=$ROCK5B_ROOT/roles
export ANSIBLE_HOME=$ROCK5B_ROOT/.cache/ansible
export ANSIBLE_PRIVATE_KEY_FILE=$ROCK5B_CACHE/ssh/id_ed25519

# molecule: its scratch space inside the repo's .cache, not ~/.cache
export MOLECULE_EPHEMERAL_DIRECTORY_ROOT=$ROCK5B_ROOT/.cache/molecule
export ANSIBLE_LINT_OFFLINE=1
