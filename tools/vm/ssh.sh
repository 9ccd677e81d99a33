#!/usr/bin/env bash
# Log in to (or run a command on) a booted VM:  tools/vm/ssh.sh <instance> [command...]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
inst=${1:?usage: ssh.sh <instance> [command...]; running: $(ls "$VM_RUN" 2>/dev/null | tr '\n' ' ')}
shift
vm_ssh "$inst" "$@"
