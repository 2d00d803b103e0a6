#!/bin/sh
# Runs a command the way the chart's securityContext runs a container, without a container
# engine: in a private mount namespace (start it with `unshare -m`), with the root filesystem
# read-only, fresh tmpfs on /tmp (the pod's emptyDir) and on /root, then as UID/GID 1000 with no
# capabilities and no_new_privs. Needs root to set up; nothing outside the namespace changes.
#
#   unshare -m podsandbox.sh KEEP_DIR... -- command ...
#
# Each KEEP_DIR (the Python installation, the repository with its venv) stays visible, read-only,
# even when it lives under /root or /tmp, which UID 1000 could not enter or the tmpfs would hide.
# Paths must not contain spaces.
set -eu
keeps=""
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
    keeps="$keeps $1"
    shift
done
[ "$#" -gt 1 ] || { echo "usage: podsandbox.sh KEEP_DIR... -- command ..." >&2; exit 2; }
shift

mount --make-rprivate /
mount -t tmpfs -o mode=0700,size=1m tmpfs /srv
i=0
for keep in $keeps; do
    mkdir "/srv/$i"
    mount --bind "$keep" "/srv/$i"
    i=$((i + 1))
done
mount -t tmpfs -o mode=0755,size=1m tmpfs /root
mount -t tmpfs -o mode=1777,size=256m tmpfs /tmp
i=0
for keep in $keeps; do
    mkdir -p "$keep"
    mount --bind "/srv/$i" "$keep"
    mount -o remount,ro,bind "$keep"
    i=$((i + 1))
done
mount -o remount,ro /root
mount -o remount,bind,ro /
exec setpriv --reuid 1000 --regid 1000 --clear-groups --inh-caps=-all --bounding-set=-all \
    --no-new-privs "$@"
