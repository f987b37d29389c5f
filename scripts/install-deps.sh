#!/usr/bin/env bash
# Installs every Debian 12 package that building, testing and running clawfence needs.
# Idempotent: prints nothing and touches nothing when everything is already present.
set -euo pipefail

# --bench: also what `make bench` compares clawfence with (Debian's auditd and bpftrace).
bench=0
[ "${1:-}" = --bench ] && bench=1

packages=(
  # build: kernel side
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
  # build: user space
  make g++ pkg-config protobuf-compiler libprotobuf-dev libspdlog-dev libfmt-dev
  libcli11-dev libyaml-cpp-dev libgtest-dev libssl-dev
  # redaction: operator patterns matched in linear time (RE2)
  libre2-dev
  # outputs: PagerDuty (libcurl), the metrics endpoint and the tests' HTTP servers (cpp-httplib)
  libcurl4-openssl-dev libcpp-httplib-dev
  # systemd: sd_notify readiness and watchdog (libsystemd); systemd-analyze verifies the unit in the tests
  libsystemd-dev systemd
  # fuzzing: libFuzzer and the sanitizer runtimes for clang
  libclang-rt-14-dev
  # tests and workloads
  nodejs python3 iproute2 procps util-linux dnsmasq-base curl openssl
)
[ "$bench" = 1 ] && packages+=(auditd bpftrace)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root (or: sudo $0)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
