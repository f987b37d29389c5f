#!/bin/sh
# debian-node.sh CACHE_DIR [NODE_ARGS...]
#
# Runs Debian 12's own Node 18 (node + libnode.so.108, linking libuv.so.1 and libnode
# dynamically: the other linkage the environment probes must handle) without installing it:
# the packages are fetched with `apt-get download` into CACHE_DIR once and unpacked there with
# `dpkg -x`. Debian's node loads some of its JavaScript from /usr/share/nodejs, so it runs in a
# private mount namespace where a read-only overlay adds the unpacked /usr/share/nodejs to
# /usr/share; nothing outside that namespace changes.
#
# `debian-node.sh CACHE_DIR --fetch` only fetches and unpacks. Exit status 3 when the packages
# cannot be fetched (no network or mirror): tests skip then.
set -eu
cache=$1
shift
root=$cache/root
if [ ! -x "$root/usr/bin/node" ]; then
  mkdir -p "$cache/debs"
  (cd "$cache/debs" &&
    apt-get download -q nodejs/bookworm libnode108/bookworm node-acorn node-cjs-module-lexer node-undici \
      node-busboy node-xtend >/dev/null 2>&1) || { echo "debian-node: cannot fetch the packages" >&2; exit 3; }
  for deb in "$cache"/debs/*.deb; do dpkg -x "$deb" "$root"; done
fi
[ "${1:-}" = "--fetch" ] && exit 0
exec unshare --mount --propagation private sh -c '
  mount -t overlay clawfence-debian-node -o "lowerdir=$1/usr/share:/usr/share" /usr/share &&
  root=$1 && shift &&
  LD_LIBRARY_PATH=$root/usr/lib/x86_64-linux-gnu exec "$root/usr/bin/node" "$@"' sh "$root" "$@"
