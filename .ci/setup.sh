#!/usr/bin/env bash
# Installs what flowsentinel needs on a fresh Debian 12 machine, idempotently:
# the C libraries the `pcap` crate links against, zstd for the compressed lab
# captures, and (with --bench) a project venv holding NFStream for the
# comparison benchmark. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PKGS=(libpcap-dev pkg-config zstd)
# The benchmark's NFStream venv needs the stdlib venv module (Debian splits it out).
[ "${1:-}" = "--bench" ] && APT_PKGS+=(python3-venv)

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
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "${1:-}" = "--bench" ]; then
  VENV=.venv
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  if ! "$VENV/bin/python" -c "import nfstream" 2>/dev/null; then
    echo "setup: installing nfstream into $VENV" >&2
    "$VENV/bin/pip" install -q -r benches/requirements.txt
  fi
fi
