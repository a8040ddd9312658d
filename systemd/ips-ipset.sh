#!/bin/sh
# flowsentinel IPS hook for ipset + iptables: blocks an address for a while.
#
# The sensor runs it as
#   ips-ipset.sh block|unblock SRC_IP SRC_PORT DEST_IP DEST_PORT PROTO LABEL SCORE TTL_SECONDS
# with the alert's EVE JSON on stdin and FLOWSENTINEL_TARGET set to the
# address to block (SRC_IP when unset). Install it as
# /usr/local/lib/flowsentinel/ips-ipset.sh and set ips_hook to that path.
# For hosts that manage their firewall with iptables; ips-nftables.sh is the
# simpler choice elsewhere.
#
# State: two ipsets, created on first use,
#   flowsentinel4  hash:ip family inet  timeout 0
#   flowsentinel6  hash:ip family inet6 timeout 0
# (timeout 0: entries live for the timeout given when they are added), and
# one rule at the top of INPUT and FORWARD in iptables and ip6tables:
#   -m set --match-set flowsentinel4 src -j DROP   (flowsentinel6 for IPv6)
# each inserted only when `-C` does not find it. `block` adds the address with
# `timeout TTL` (-exist: blocking it again restarts its timeout), so the
# kernel removes it by itself when the TTL ends; `unblock` deletes it and
# succeeds when it is already gone.
#
# Environment: FLOWSENTINEL_IPSET overrides the set name prefix (sets PREFIX4
# and PREFIX6). Needs CAP_NET_ADMIN (see ips.conf). Exit status: 0 done,
# 2 bad arguments, anything else an ipset/iptables failure (message on stderr).
set -eu

prog=${0##*/}

usage() {
  echo "usage: $prog block|unblock SRC_IP SRC_PORT DEST_IP DEST_PORT PROTO LABEL SCORE TTL_SECONDS" >&2
  exit 2
}

die() {
  echo "$prog: $*" >&2
  exit 2
}

# Exactly dotted-quad IPv4 or hex-and-colons IPv6 (optionally with a dotted
# IPv4 tail); prints 4 or 6. Nothing else ever reaches a command line.
family_of() {
  a=$1
  case $a in
    '' | *[!0-9A-Fa-f.:]*) return 1 ;;
    *:*:*)
      [ ${#a} -le 45 ] || return 1
      case $a in *:::*) return 1 ;; esac
      echo 6
      ;;
    *:*) return 1 ;;
    *)
      case $a in *[!0-9.]* | .* | *. | *..*) return 1 ;; esac
      n=0
      rest=$a.
      while [ -n "$rest" ]; do
        part=${rest%%.*}
        rest=${rest#*.}
        n=$((n + 1))
        case $part in 0?*) return 1 ;; esac
        [ ${#part} -le 3 ] && [ "$part" -le 255 ] || return 1
      done
      [ "$n" -eq 4 ] || return 1
      echo 4
      ;;
  esac
}

[ $# -eq 9 ] || usage
action=$1
case $action in block | unblock) ;; *) usage ;; esac
target=${FLOWSENTINEL_TARGET:-$2}
ttl=$9
prefix=${FLOWSENTINEL_IPSET:-flowsentinel}

# The alert JSON is not needed; read it so the sensor's write never fails,
# unless stdin is a terminal (a manual run).
if [ ! -t 0 ]; then cat >/dev/null || true; fi

family=$(family_of "$target") || die "invalid address: '$target'"
case $prefix in
  '' | *[!A-Za-z0-9_-]*) die "invalid set name prefix: '$prefix'" ;;
esac
[ ${#prefix} -le 25 ] || die "set name prefix too long: '$prefix'"
if [ "$action" = block ]; then
  case $ttl in
    '' | 0* | *[!0-9]*) die "invalid TTL (a positive number of seconds): '$ttl'" ;;
  esac
  # ipset's largest timeout is 2147483 seconds.
  [ ${#ttl} -le 6 ] || die "TTL too large: '$ttl'"
fi
set_name=$prefix$family
if [ "$family" = 6 ]; then
  ipt=ip6tables
  inet=inet6
else
  ipt=iptables
  inet=inet
fi

# Serialises concurrent runs (the lock is on this script, opened read-only,
# so it works on a read-only filesystem); skipped where flock is missing.
if command -v flock >/dev/null 2>&1; then
  exec 9<"$0"
  flock -w 10 9 || true
fi

case $action in
  block)
    ipset create "$set_name" hash:ip family "$inet" timeout 0 -exist
    for chain in INPUT FORWARD; do
      if ! "$ipt" -w -C "$chain" -m set --match-set "$set_name" src -j DROP 2>/dev/null; then
        "$ipt" -w -I "$chain" 1 -m set --match-set "$set_name" src -j DROP
      fi
    done
    ipset add "$set_name" "$target" timeout "$ttl" -exist
    echo "$prog: blocked $target for ${ttl}s"
    ;;
  unblock)
    if ! ipset list -name "$set_name" >/dev/null 2>&1; then
      echo "$prog: $target not blocked (no set $set_name)"
      exit 0
    fi
    ipset del "$set_name" "$target" -exist
    echo "$prog: unblocked $target"
    ;;
esac
