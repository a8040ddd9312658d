#!/usr/bin/env bash
# flowsentinel's traffic lab (see README.md). Root only.
#   lab.sh --install                 apt-get the servers and tools (Debian 12), idempotent
#   lab.sh --cleanup                 remove leftover fsl-* namespaces
#   lab.sh --split S --seed N ...    one run (lab.py --help)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PKGS=(nmap hping3 hydra slowhttptest apache2-utils wrk nginx-light openssh-server openssh-client vsftpd
      dnsmasq-base bind9-dnsutils chrony sntp ncat curl tcpdump iproute2 ethtool iputils-ping openssl python3)
TOOLS=(nmap hping3 hydra slowhttptest ab wrk nginx /usr/sbin/sshd /usr/sbin/vsftpd dnsmasq dig chronyd sntp ncat
       curl tcpdump ip tc ethtool ping openssl ssh scp /usr/bin/python3)

cleanup() {
    local ns pid
    for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^fsl-/ {print $1}'); do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    done
    sleep 0.3
    for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^fsl-/ {print $1}'); do
        ip netns del "$ns" 2>/dev/null || true
        rm -rf "/etc/netns/$ns"
    done
}

# One lab at a time: a second run would share the fsl-* names, and its cleanup would end the first.
LOCK=/run/flowsentinel-lab.lock
take_lock() {
    exec 9>"$LOCK"
    flock -n 9 || { echo "lab.sh: another lab run is in progress (lock $LOCK)" >&2; exit 1; }
}

case "${1:-}" in
    --install)
        missing=()
        for t in "${TOOLS[@]}"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
        if [ ${#missing[@]} -gt 0 ]; then
            apt-get update -q
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${PKGS[@]}"
        fi
        exit 0 ;;
    --cleanup) take_lock; cleanup; exit 0 ;;
    -h|--help|"") exec /usr/bin/python3 "$HERE/lab.py" --help ;;
esac
[ "$(id -u)" = 0 ] || { echo "lab.sh: run as root (network namespaces)" >&2; exit 1; }
for t in "${TOOLS[@]}"; do
    command -v "$t" >/dev/null 2>&1 || { echo "lab.sh: $t is missing; run: $0 --install" >&2; exit 1; }
done
take_lock
trap cleanup EXIT
/usr/bin/python3 "$HERE/lab.py" "$@"
