#!/bin/sh
# Runs a command the way the chart's securityContext runs a container, without a container
# engine: in a private mount namespace (start it with `unshare -m`), with the root filesystem
# read-only, a fresh tmpfs on /tmp (the pod's emptyDir), then as UID/GID 1000 with no
# capabilities and no_new_privs. Needs root to set up; nothing outside the namespace changes.
#
#   unshare -m podsandbox.sh PYTHON_HOME -- command ...
#
# PYTHON_HOME is the interpreter's installation; when it sits under /root (pyenv), which UID 1000
# cannot enter, it is bind-mounted back, read-only, onto an otherwise empty /root.
set -eu
python_home=$1
shift
[ "$1" = "--" ] && shift

mount --make-rprivate /
case "$python_home" in
    /root/*)
        mount --bind "$python_home" /srv
        mount -t tmpfs -o mode=0755,size=1m tmpfs /root
        mkdir -p "$python_home"
        mount --bind /srv "$python_home"
        mount -o remount,ro,bind "$python_home"
        mount -o remount,ro /root
        ;;
esac
mount -t tmpfs -o mode=1777,size=256m tmpfs /tmp
mount -o remount,bind,ro /
exec setpriv --reuid 1000 --regid 1000 --clear-groups --inh-caps=-all --bounding-set=-all \
    --no-new-privs "$@"
