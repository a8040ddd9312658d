#!/usr/bin/env bash
# Installs what flowsentinel needs on a fresh Debian 12 machine, idempotently:
# - apt: the C libraries the `pcap` crate links against, zstd for the
#   compressed lab captures, python3-venv, and rsyslog (the syslog tests start
#   their own private daemon; the system service is left alone); g++, which
#   builds libFuzzer for the fuzz targets (fuzz/);
# - apt, for the live capture and IPS tests and the live benchmark: nftables,
#   ipset and iptables (the IPS hook scripts in systemd/, tested inside a
#   private network namespace), iproute2 (`ip netns`, veth pairs), hping3,
#   nmap and tcpreplay (traffic generators), and systemd (`systemd-analyze
#   verify` of the unit files);
# - the project venv .venv with models/requirements.txt: ONNX Runtime's shared
#   library (loaded at run time) and the model-building tools;
# - with --bench, NFStream into the same venv for the comparison benchmark,
#   and from apt gcc and libc6-dev (benches/bench.sh compiles its C floors
#   against libpcap).
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PKGS=(libpcap-dev pkg-config zstd python3-venv rsyslog g++
  nftables ipset iptables iproute2 hping3 nmap tcpreplay tcpdump systemd)
if [ "${1:-}" = "--bench" ]; then APT_PKGS+=(gcc libc6-dev); fi

missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # policy-rc.d 101: never start system services (rsyslog, nftables, ...)
  # from the install.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    $SUDO sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
    made_policy=1
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ "$made_policy" = 1 ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
fi

VENV=.venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
if ! "$VENV/bin/python" -c "import onnxruntime, onnx, skl2onnx, sklearn" 2>/dev/null; then
  echo "setup: installing models/requirements.txt into $VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check -r models/requirements.txt
fi

if [ "${1:-}" = "--bench" ]; then
  if ! "$VENV/bin/python" -c "import nfstream" 2>/dev/null; then
    echo "setup: installing benches/requirements.txt into $VENV" >&2
    "$VENV/bin/pip" install -q --disable-pip-version-check -r benches/requirements.txt
  fi
fi
