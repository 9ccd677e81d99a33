# shellcheck shell=bash
# Sourced by the image builders (tools/image/build.sh, tools/ee/base.sh): the Debian mirrors
# this host's own apt uses, so builds go where apt already goes.
# Sets $mirror and $security; ROCK5B_APT_MIRROR / ROCK5B_APT_SECURITY_MIRROR override them.

find_uri() { # $1 = last path component of the archive (debian | debian-security)
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && grep -v '^\s*#' "$f"
    done | grep -oE "https?://[^ ]+/$1/?( |\$)" | head -n1 | tr -d ' ' | sed 's:/$::' || true
}
mirror=${ROCK5B_APT_MIRROR:-$(find_uri debian)}
mirror=${mirror:-http://deb.debian.org/debian}
security=${ROCK5B_APT_SECURITY_MIRROR:-$(find_uri debian-security)}
security=${security:-http://deb.debian.org/debian-security}
