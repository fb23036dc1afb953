#!/usr/bin/env bash
# Checks a MedForge host in one command and prints one line per claim in
# the seed's vocabulary:
#   VERIFIED         probed on this host and held
#   UNVERIFIED       described but not evidenced here (the line says why)
#   NOT_IMPLEMENTED  modeled but blocked at run time (known gaps)
# Exits 1 when any claim is UNVERIFIED.
#
#   ops/host/validate-deploy.sh [path/to/.env]   (deploy/compose/.env)
#
# With VALIDATE_SLUG and VALIDATE_OWNER_COOKIE (and VALIDATE_OTHER_COOKIE)
# set, it also runs ops/host/validate-routing.sh against the live site.
set -uo pipefail
cd "$(dirname "$0")/../.."
env_file=${1:-deploy/compose/.env}
fail=0
say() { echo "$1 $2"; [ "$1" = UNVERIFIED ] && fail=1; return 0; }
check() { # claim, command...
  local claim=$1; shift
  if "$@" >/dev/null 2>&1; then say VERIFIED "$claim"; else say UNVERIFIED "$claim"; fi
}
val() { [ -f "$env_file" ] && sed -n "s/^$1=//p" "$env_file" | tail -1; }

domain=$(val MEDFORGE_DOMAIN)
check "Docker engine answers" docker info
if [ -f "$env_file" ]; then
  check "compose stack is valid with $env_file (docker-compose config)" docker-compose --env-file "$env_file" -f deploy/compose/docker-compose.yml config -q
else
  say UNVERIFIED "compose stack is valid (no $env_file: copy deploy/compose/.env.example)"
fi
case "$(val MEDFORGE_PACK_IMAGE)" in
  *@sha256:*) say VERIFIED "PACK_IMAGE is digest-pinned" ;;
  sha256:*) say VERIFIED "PACK_IMAGE is pinned by local image id" ;;
  *) say UNVERIFIED "PACK_IMAGE is digest-pinned (MEDFORGE_PACK_IMAGE lacks @sha256:)" ;;
esac

# Caddy: 2.9.0 to 2.11.1 let a client-supplied copied header through.
caddy_ok() {
  local v=$1
  v=${v#v}; v=${v%% *}
  local ma mi pa
  IFS=. read -r ma mi pa <<<"$v"; pa=${pa%%[^0-9]*}
  [ -n "$ma" ] && [ -n "$mi" ] || return 1
  if [ "$ma" -eq 2 ] && { [ "$mi" -ge 9 ] && [ "$mi" -le 10 ] || { [ "$mi" -eq 11 ] && [ "${pa:-0}" -le 1 ]; }; }; then return 1; fi
  return 0
}
image=$(val MEDFORGE_CADDY_IMAGE)
if docker ps --format '{{.Names}}' 2>/dev/null | grep -q 'medforge-caddy'; then
  name=$(docker ps --format '{{.Names}}' | grep -m1 'medforge-caddy')
  v=$(docker exec "$name" caddy version 2>/dev/null)
  if caddy_ok "$v"; then say VERIFIED "running Caddy ($v) is not 2.9.0-2.11.1"; else say UNVERIFIED "running Caddy ($v) is 2.6.2 or >= 2.11.2"; fi
elif [ -n "$image" ]; then
  tag=${image##*:}
  if caddy_ok "$tag"; then say VERIFIED "configured Caddy image ($image) is not 2.9.0-2.11.1 (not running: tag only)"; else say UNVERIFIED "configured Caddy image ($image) is 2.6.2 or >= 2.11.2"; fi
else
  say UNVERIFIED "Caddy version (no medforge-caddy container and no MEDFORGE_CADDY_IMAGE)"
fi

# Networks and fixed addresses (the contract's unless the env file names
# others, as a second stack on one engine does).
ext_net=$(val MEDFORGE_EXTERNAL_NETWORK); ext_net=${ext_net:-medforge-external-sessions}
int_net=$(val MEDFORGE_INTERNAL_NETWORK); int_net=${int_net:-medforge-internal-sessions}
ctl_net=$(val MEDFORGE_CONTROL_NETWORK); ctl_net=${ctl_net:-medforge-control}
ext=$(val MEDFORGE_EXTERNAL_NET); ext=${ext:-172.30.0}
int=$(val MEDFORGE_INTERNAL_NET); int=${int:-172.30.1}
br=$(val MEDFORGE_BRIDGE_PREFIX); br=${br:-mf}
net_has() { docker network inspect "$1" --format '{{range .IPAM.Config}}{{.Subnet}}{{end}} {{.Internal}}' 2>/dev/null | grep -q "$2"; }
check "network $ext_net has subnet $ext.0/24" net_has "$ext_net" "$ext.0/24 false"
check "network $int_net is internal (no egress)" net_has "$int_net" " true"
check "network $ctl_net exists" docker network inspect "$ctl_net"
addr_of() { docker network inspect "$1" --format "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{println}}{{end}}" 2>/dev/null | grep "$2" | grep -q "$3/"; }
check "medforge-caddy has $ext.2 on $ext_net" addr_of "$ext_net" medforge-caddy "$ext.2"
check "medforge-api has $ext.3 on $ext_net" addr_of "$ext_net" medforge-api "$ext.3"

# Firewall (rules present; the API's isolation probe and make test-stack
# probe with containers).
while read -r status claim; do say "$status" "firewall: $claim"; done < <(
  MEDFORGE_FW_NETWORKS=${MEDFORGE_FW_NETWORKS:-"$br-ext0:$ext.0/24:$ext.2:$ext.3 $br-int0:$int.0/24:$int.2:$int.3"} ops/network/firewall-setup.sh check 2>&1)

# DNS and TLS.
if [ -n "$domain" ] && [ "$domain" != localhost ]; then
  for h in medforge external.medforge internal.medforge api.medforge; do
    check "DNS resolves $h.$domain" getent hosts "$h.$domain"
  done
  check "DNS resolves a session wildcard (s-validate.external.medforge.$domain)" getent hosts "s-validate.external.medforge.$domain"
  for h in medforge api.medforge; do
    check "TLS hostname validation passes for $h.$domain" curl -sS -o /dev/null --max-time 10 "https://$h.$domain/healthz"
  done
else
  say UNVERIFIED "external DNS and TLS (MEDFORGE_DOMAIN is ${domain:-unset}; checked only for a real domain)"
fi

# Storage.
if command -v zfs >/dev/null; then
  for d in tank/medforge/workspaces tank/medforge/system/db; do
    check "ZFS dataset $d exists" zfs list -H "$d"
  done
else
  say UNVERIFIED "ZFS layout (zfs is not installed: ops/host/bootstrap.sh, ops/storage/zfs-setup.sh)"
fi
if [ -e /dev/nvidiactl ]; then
  check "NVIDIA container toolkit is configured for Docker" sh -c "docker info 2>/dev/null | grep -qi nvidia"
else
  say UNVERIFIED "NVIDIA GPUs (none on this host; sessions use declared GPUs without a device)"
fi

# Known gaps, stated as such.
if [ -n "${VALIDATE_API_URL:-}" ]; then
  check "snapshot restore API (GET /api/v2/{exposure}/snapshots, from_snapshot) is served" \
    sh -c "curl -fsS --max-time 10 '$VALIDATE_API_URL/api/v2/openapi.json' | grep -q '/api/v2/external/snapshots'"
  check "automated snapshot retention is served (prune_at on the snapshot list)" \
    sh -c "curl -fsS --max-time 10 '$VALIDATE_API_URL/api/v2/openapi.json' | grep -q prune_at"
  check "GPU waitlist is served (GET /api/v2/external/sessions/queue)" \
    sh -c "curl -fsS --max-time 10 '$VALIDATE_API_URL/api/v2/openapi.json' | grep -q '/api/v2/external/sessions/queue'"
else
  say UNVERIFIED "snapshot restore, retention and the GPU waitlist on this deployment (set VALIDATE_API_URL to check the API serves them; the repository's tests verify them)"
fi
say NOT_IMPLEMENTED "per-session ZFS datasets from the API container (no zfs tool inside; compose uses the directory provider on the workspaces dataset)"

if [ -n "${VALIDATE_SLUG:-}" ]; then
  MEDFORGE_DOMAIN=${domain:-localhost} ops/host/validate-routing.sh || fail=1
else
  say UNVERIFIED "live session routing matrix (set VALIDATE_SLUG and VALIDATE_OWNER_COOKIE to run ops/host/validate-routing.sh)"
fi
exit $fail
