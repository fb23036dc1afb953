#!/usr/bin/env bash
# Checks session routing through Caddy on a live deployment and prints one
# line per claim: VERIFIED (probed and held), UNVERIFIED (not probed, or the
# probe disagreed: the line says which), NOT_IMPLEMENTED (modeled, not run).
# Exits 1 when any claim is UNVERIFIED.
#
# Settings (environment):
#   MEDFORGE_DOMAIN         the deployment's domain (localhost)
#   VALIDATE_SCHEME         http or https (https unless the domain is localhost)
#   VALIDATE_PORT           Caddy's port (443 / 8080 for localhost)
#   VALIDATE_CONNECT        host:port to connect to instead of DNS (e.g. 127.0.0.1:8080)
#   VALIDATE_SLUG           slug of a RUNNING session of the owner
#   VALIDATE_EXPOSURE       its exposure (external)
#   VALIDATE_OWNER_COOKIE   identity cookie value of its owner (__Host-medforge_session
#                           over https, medforge_session over http)
#   VALIDATE_OTHER_COOKIE   cookie of a user who is neither owner nor admin
#   VALIDATE_CURL_OPTS      extra curl options (e.g. --cacert ca.pem)
# Cookie values are never printed.
set -uo pipefail
domain=${MEDFORGE_DOMAIN:-localhost}
scheme=${VALIDATE_SCHEME:-$([ "$domain" = localhost ] && echo http || echo https)}
port=${VALIDATE_PORT:-$([ "$domain" = localhost ] && echo 8080 || echo 443)}
exposure=${VALIDATE_EXPOSURE:-external}
slug=${VALIDATE_SLUG:-}
owner=${VALIDATE_OWNER_COOKIE:-}
other=${VALIDATE_OTHER_COOKIE:-}
fail=0
say() { echo "$1 $2"; [ "$1" = UNVERIFIED ] && fail=1; return 0; }

# req <host> <path> <cookie> [curl args...] -> prints "status<TAB>headers-have-upstream"
req() {
  local host=$1 path=$2 cookie=$3; shift 3
  local args=(-s -o /dev/null -D - --max-time 10 ${VALIDATE_CURL_OPTS:-})
  [ -n "${VALIDATE_CONNECT:-}" ] && args+=(--connect-to "$host:$port:${VALIDATE_CONNECT}")
  # The identity cookie is host-only: sent here explicitly, as an API
  # client does (curl sends no Sec-Fetch-Mode, so it counts).
  local name=medforge_session
  [ "$scheme" = https ] && name=__Host-medforge_session
  [ -n "$cookie" ] && args+=(-H "Cookie: $name=$cookie")
  local hdrs
  hdrs=$(curl "${args[@]}" "$@" "$scheme://$host:$port$path" 2>/dev/null | tr -d '\r')
  local code
  code=$(echo "$hdrs" | awk 'NR==1 {print $2}')
  if echo "$hdrs" | grep -qi '^x-\(medforge-\)\?upstream:'; then echo "${code:-000} leak"; else echo "${code:-000} ok"; fi
}

expect() { # claim, want-status, result
  local claim=$1 want=$2 got=$3
  local code=${got% *} leak=${got#* }
  if [ "$code" = "$want" ] && [ "$leak" = ok ]; then say VERIFIED "$claim"
  elif [ "$leak" = leak ]; then say UNVERIFIED "$claim (an upstream header reached the client)"
  else say UNVERIFIED "$claim (got HTTP $code, want $want)"; fi
}

if [ -z "$slug" ] || [ -z "$owner" ]; then
  say UNVERIFIED "session routing matrix (set VALIDATE_SLUG and VALIDATE_OWNER_COOKIE of a running session)"
  exit 1
fi
host="s-$slug.$exposure.medforge.$domain"

expect "anonymous request to a session host is refused (401)" 401 "$(req "$host" / "")"
expect "the owner reaches their running session (200)" 200 "$(req "$host" / "$owner")"
if [ -n "$other" ]; then
  expect "another user is refused (403)" 403 "$(req "$host" / "$other")"
  expect "another user with a forged X-Upstream is still refused (403)" 403 "$(req "$host" / "$other" -H "X-Upstream: 127.0.0.1:1" -H "X-Medforge-Upstream: 127.0.0.1:1")"
else
  say UNVERIFIED "another user is refused (403) (set VALIDATE_OTHER_COOKIE)"
fi
expect "a client X-Upstream is ignored (owner still reaches the session)" 200 "$(req "$host" / "$owner" -H "X-Upstream: 127.0.0.1:1" -H "X-Medforge-Upstream: 127.0.0.1:1")"
expect "/api/v2/auth/session-proxy on a session host is blocked (403)" 403 "$(req "$host" /api/v2/auth/session-proxy "$owner")"
expect "an unknown session is 404" 404 "$(req "s-zz0validate0zz.$exposure.medforge.$domain" / "$owner")"
other_exposure=$([ "$exposure" = external ] && echo internal || echo external)
expect "the session is not reachable on the other exposure's host (404)" 404 "$(req "s-$slug.$other_exposure.medforge.$domain" / "$owner")"
expect "a websocket upgrade to the owner's session answers 101" 101 "$(req "$host" /validate-ws "$owner" --http1.1 \
  -H "Connection: Upgrade" -H "Upgrade: websocket" -H "Sec-WebSocket-Version: 13" -H "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==" \
  -H "Origin: $scheme://$host:$port" --max-time 3)"
exit $fail
