#!/usr/bin/env bash
# East-west policy for MedForge session networks (iptables, IPv4), run as
# root on the host after Docker starts (and after `docker-compose up`
# created the networks):
#
#   ops/network/firewall-setup.sh apply    # (re)build the rules; idempotent
#   ops/network/firewall-setup.sh remove   # take them out again
#   ops/network/firewall-setup.sh check    # print VERIFIED/UNVERIFIED per claim
#
# Claims, per session network (bridge, subnet, Caddy's and the API's fixed
# addresses):
#   - only Caddy's fixed address opens connections to a session's :8080
#     (the API's fixed address too, for the readiness probe only);
#   - session containers cannot open connections to each other, to Caddy
#     or to the API (anything on their own bridge);
#   - session containers cannot reach other private networks (the control
#     network with the database, other Docker networks, the LAN);
#   - session containers cannot open connections to the host itself (any
#     host port, through the gateway or any host address).
# Replies to connections opened the allowed way still pass (conntrack).
# Egress to the internet is left to Docker: the internal network has none.
#
# Settings (environment):
#   MEDFORGE_FW_NETWORKS  space-separated bridge:subnet:caddy_ip:api_ip
#                         (default: the contract's two session networks)
#   MEDFORGE_FW_PREFIX    chain name prefix (MEDFORGE); chains are
#                         <prefix>-EW (from DOCKER-USER) and <prefix>-HOSTIN (from INPUT)
#   MEDFORGE_FW_PRIVATE   destinations sessions may not reach outside their bridge
set -euo pipefail
networks=${MEDFORGE_FW_NETWORKS:-"mf-ext0:172.30.0.0/24:172.30.0.2:172.30.0.3 mf-int0:172.30.1.0/24:172.30.1.2:172.30.1.3"}
prefix=${MEDFORGE_FW_PREFIX:-MEDFORGE}
private=${MEDFORGE_FW_PRIVATE:-10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,169.254.0.0/16,100.64.0.0/10}
ew=$prefix-EW
hostin=$prefix-HOSTIN
ipt() { iptables -w 5 "$@"; }

need_root() {
  [ "$(id -u)" = 0 ] || { echo "firewall-setup: run as root" >&2; exit 1; }
  command -v iptables >/dev/null || { echo "firewall-setup: iptables is missing (apt-get install iptables)" >&2; exit 1; }
}

ensure_chain() { ipt -n -L "$1" >/dev/null 2>&1 || ipt -N "$1"; ipt -F "$1"; }
ensure_jump() { # table-less: chain, rule...
  local chain=$1; shift
  ipt -C "$chain" "$@" 2>/dev/null || ipt -I "$chain" 1 "$@"
}

apply() {
  need_root
  ipt -n -L DOCKER-USER >/dev/null 2>&1 || ipt -N DOCKER-USER
  ipt -C FORWARD -j DOCKER-USER 2>/dev/null || ipt -I FORWARD 1 -j DOCKER-USER
  ensure_chain "$ew"
  ensure_chain "$hostin"
  ipt -A "$ew" -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
  ipt -A "$hostin" -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
  for n in $networks; do
    IFS=: read -r br subnet caddy api <<<"$n"
    [ -n "$api" ] || { echo "firewall-setup: bad network spec $n (want bridge:subnet:caddy_ip:api_ip)" >&2; exit 1; }
    # On the session bridge: Caddy and the API to sessions' :8080, Caddy to the API.
    ipt -A "$ew" -i "$br" -o "$br" -s "$caddy" -d "$subnet" -p tcp --dport 8080 -j RETURN
    ipt -A "$ew" -i "$br" -o "$br" -s "$api" -d "$subnet" -p tcp --dport 8080 -j RETURN
    ipt -A "$ew" -i "$br" -o "$br" -s "$caddy" -d "$api" -p tcp --dport 8000 -j RETURN
    ipt -A "$ew" -i "$br" -o "$br" -j DROP
    # Leaving the bridge: Caddy and the API as Docker allows; sessions not
    # to private ranges.
    ipt -A "$ew" -i "$br" -s "$caddy" -j RETURN
    ipt -A "$ew" -i "$br" -s "$api" -j RETURN
    ipt -A "$ew" -i "$br" -d "$private" -j DROP
    # To the host itself.
    ipt -A "$hostin" -i "$br" -s "$caddy" -j RETURN
    ipt -A "$hostin" -i "$br" -s "$api" -j RETURN
    ipt -A "$hostin" -i "$br" -j DROP
  done
  ensure_jump DOCKER-USER -j "$ew"
  ensure_jump INPUT -j "$hostin"
  echo "firewall-setup: applied $ew and $hostin for: $networks"
}

remove() {
  need_root
  while ipt -C DOCKER-USER -j "$ew" 2>/dev/null; do ipt -D DOCKER-USER -j "$ew"; done
  while ipt -C INPUT -j "$hostin" 2>/dev/null; do ipt -D INPUT -j "$hostin"; done
  for c in "$ew" "$hostin"; do
    if ipt -n -L "$c" >/dev/null 2>&1; then ipt -F "$c"; ipt -X "$c"; fi
  done
  echo "firewall-setup: removed $ew and $hostin"
}

# check prints one line per claim in the seed's vocabulary: VERIFIED when
# the rules that enforce it are in place, UNVERIFIED otherwise (a rule
# being present is not a connection test; ops/network/validate-firewall.sh
# and the deploy tests probe with real containers).
check() {
  local s
  status() { if "$@" >/dev/null 2>&1; then echo VERIFIED; else echo UNVERIFIED; fi; }
  echo "$(status ipt -C DOCKER-USER -j "$ew") east-west chain $ew is jumped to from DOCKER-USER"
  echo "$(status ipt -C INPUT -j "$hostin") host-input chain $hostin is jumped to from INPUT"
  echo "$(status sh -c "[ \"\$(sysctl -n net.bridge.bridge-nf-call-iptables 2>/dev/null)\" = 1 ]") bridged traffic passes iptables (net.bridge.bridge-nf-call-iptables=1)"
  for n in $networks; do
    IFS=: read -r br subnet caddy api <<<"$n"
    s=$(status ipt -C "$ew" -i "$br" -o "$br" -s "$caddy" -d "$subnet" -p tcp --dport 8080 -j RETURN)
    if [ "$s" = VERIFIED ]; then s=$(status ipt -C "$ew" -i "$br" -o "$br" -j DROP); fi
    echo "$s $br: only Caddy ($caddy) and the API probe ($api) reach sessions' :8080; sessions cannot reach each other, Caddy or the API"
    echo "$(status ipt -C "$ew" -i "$br" -d "$private" -j DROP) $br: sessions cannot reach private networks (database, control network, LAN)"
    echo "$(status ipt -C "$hostin" -i "$br" -j DROP) $br: sessions cannot open connections to host ports"
  done
}

case "${1:-apply}" in
  apply) apply ;;
  remove) remove ;;
  check) check ;;
  *) echo "usage: $0 apply|remove|check" >&2; exit 2 ;;
esac
