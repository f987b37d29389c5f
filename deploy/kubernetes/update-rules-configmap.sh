#!/usr/bin/env bash
# Writes deploy/kubernetes/configmap-rules.yaml from the shipped rules (rules/*.yaml), each file a
# key holding its bytes unchanged. Run it after editing rules/; tests/unit/manifests_test.cpp
# fails while the two differ.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/deploy/kubernetes/configmap-rules.yaml"

{
  cat <<'HEADER'
# The rules the agent enforces, mounted as the directory /etc/clawfence/rules.d. Generated from
# rules/*.yaml by deploy/kubernetes/update-rules-configmap.sh (a unit test keeps them equal).
#
# A plain ConfigMap, not a kustomize configMapGenerator: a generated name carries a hash of the
# content, so every rule change would rename it and roll the DaemonSet, restarting every agent
# (and dropping its in-memory state) where a reload is all that is needed. Mounted as a whole
# directory (no subPath), an edited ConfigMap reaches running pods: the kubelet writes the new
# files into a fresh hidden directory and swaps the `..data` symlink to it in one rename, which
# the agent's inotify watch on the directory sees, so the rules reload in place, validated first
# like a SIGHUP reload. Allow for the kubelet's sync period (up to about a minute) before
# the change lands. A subPath mount would never be updated.
#
# Edit with `kubectl -n clawfence edit configmap clawfence-rules`, or change rules/ in the
# repository, run the script above and `kubectl apply -k deploy/kubernetes`.
apiVersion: v1
kind: ConfigMap
metadata:
  name: clawfence-rules
  namespace: clawfence
  labels:
    app.kubernetes.io/name: clawfence
data:
HEADER
  for f in "$root"/rules/*.yaml; do
    # A literal block (`|`) gives back every byte of a file that ends in exactly one newline,
    # whose first line is not indented and that has no tab-indented lines or carriage returns;
    # refuse anything else rather than write a copy that differs.
    last=$(tail -c 1 "$f" | od -An -tx1 | tr -d ' \n')
    prev=$(tail -c 2 "$f" | head -c 1 | od -An -tx1 | tr -d ' \n')
    if [ "$last" != 0a ] || [ "$prev" = 0a ]; then
      echo "$f: must end in exactly one newline to be copied verbatim" >&2
      exit 1
    fi
    if grep -q $'\r' "$f" || grep -q $'^\t' "$f" || [ "$(grep -m1 -v '^$' "$f" | cut -c1)" = " " ]; then
      echo "$f: carriage returns, tab indentation or an indented first line cannot be copied verbatim" >&2
      exit 1
    fi
    printf '  %s: |\n' "$(basename "$f")"
    sed -e 's/^/    /' -e 's/^    $//' "$f"
  done
} > "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out"
