#!/bin/sh
# flowsentinel IPS hook for nftables: blocks an address for a while.
#
# The sensor runs it as
#   ips-nftables.sh block|unblock SRC_IP SRC_PORT DEST_IP DEST_PORT PROTO LABEL SCORE TTL_SECONDS
# with the alert's EVE JSON on stdin and FLOWSENTINEL_TARGET set to the
# address to block (SRC_IP when unset). Install it as
# /usr/local/lib/flowsentinel/ips-nftables.sh and set ips_hook to that path.
#
# It keeps its state in one table (created on first use, atomically):
#   table inet flowsentinel {
#     set blocked4 { type ipv4_addr; flags timeout; }
#     set blocked6 { type ipv6_addr; flags timeout; }
#     chain prerouting {
#       type filter hook prerouting priority raw; policy accept;
#       ip saddr @blocked4 counter drop
#       ip6 saddr @blocked6 counter drop
#     }
#   }
# The prerouting hook at raw priority sees every packet arriving at the host,
# both for the host itself and for what it forwards as a router, before
# connection tracking. `block` adds the address with `timeout TTLs`, so the
# kernel drops it by itself when the TTL ends even if `unblock` never comes;
# blocking an address again restarts its timeout. `unblock` removes it and
# succeeds when it is already gone.
#
# Environment: FLOWSENTINEL_NFT_TABLE overrides the table name; FLOWSENTINEL_NFT
# the nft command. Needs CAP_NET_ADMIN (see ips.conf). Exit status: 0 done,
# 2 bad arguments, anything else an nft failure (its message on stderr).
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
# IPv4 tail); prints 4 or 6. Nothing else ever reaches the nft command line.
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
table=${FLOWSENTINEL_NFT_TABLE:-flowsentinel}
nft=${FLOWSENTINEL_NFT:-nft}

# The alert JSON is not needed; read it so the sensor's write never fails,
# unless stdin is a terminal (a manual run).
if [ ! -t 0 ]; then cat >/dev/null || true; fi

family=$(family_of "$target") || die "invalid address: '$target'"
case $table in
  '' | *[!A-Za-z0-9_]*) die "invalid table name: '$table'" ;;
esac
if [ "$action" = block ]; then
  case $ttl in
    '' | 0* | *[!0-9]*) die "invalid TTL (a positive number of seconds): '$ttl'" ;;
  esac
  [ ${#ttl} -le 9 ] || die "TTL too large: '$ttl'"
fi
set_name=blocked$family

# Serialises concurrent runs (the lock is on this script, opened read-only,
# so it works on a read-only filesystem); skipped where flock is missing.
if command -v flock >/dev/null 2>&1; then
  exec 9<"$0"
  flock -w 10 9 || true
fi

has_table() {
  chain=$("$nft" list chain inet "$table" prerouting 2>/dev/null) || return 1
  case $chain in *"@blocked4 counter"*) ;; *) return 1 ;; esac
  case $chain in *"@blocked6 counter"*) ;; *) return 1 ;; esac
  "$nft" list set inet "$table" blocked4 >/dev/null 2>&1 &&
    "$nft" list set inet "$table" blocked6 >/dev/null 2>&1
}

# One transaction: the table, sets and chain are added where missing and the
# chain's rules replaced, so it never leaves a half-made table and never
# duplicates a rule, even when two runs race.
make_table() {
  "$nft" -f - <<EOF
add table inet $table
add set inet $table blocked4 { type ipv4_addr; flags timeout; }
add set inet $table blocked6 { type ipv6_addr; flags timeout; }
add chain inet $table prerouting { type filter hook prerouting priority raw; policy accept; }
flush chain inet $table prerouting
add rule inet $table prerouting ip saddr @blocked4 counter drop
add rule inet $table prerouting ip6 saddr @blocked6 counter drop
EOF
}

case $action in
  block)
    has_table || make_table
    # add (a no-op when present), delete, add: one transaction that inserts
    # the address or restarts its timeout.
    "$nft" -f - <<EOF
add element inet $table $set_name { $target timeout ${ttl}s }
delete element inet $table $set_name { $target }
add element inet $table $set_name { $target timeout ${ttl}s }
EOF
    echo "$prog: blocked $target for ${ttl}s"
    ;;
  unblock)
    if ! "$nft" list set inet "$table" "$set_name" >/dev/null 2>&1; then
      echo "$prog: $target not blocked (no set $table $set_name)"
      exit 0
    fi
    # add then delete: removes the address whether or not it is still there.
    "$nft" -f - <<EOF
add element inet $table $set_name { $target }
delete element inet $table $set_name { $target }
EOF
    echo "$prog: unblocked $target"
    ;;
esac
