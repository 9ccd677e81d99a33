#!/usr/bin/env bash
# The lab's board image built natively for amd64 (localhost/rock5b-board-amd64), for the
# benchmark's scale curve and the self-healing test: the same recipe as the arm64 image,
# tools/image/build.sh with ROCK5B_IMAGE_ARCH=amd64. Prints the tag on stdout.
set -euo pipefail
ROCK5B_IMAGE_ARCH=amd64 exec bash "$(dirname "${BASH_SOURCE[0]}")/../tools/image/build.sh"
