// Package deploy holds MedForge's deployable stack as files, and the tests
// that check them on this host: deploy/caddy (Caddyfile with wildcard TLS,
// Caddyfile.local for plain-HTTP local runs, the shared session route),
// deploy/compose (docker-compose.yml, .env.example, the API image built
// FROM scratch from the static binary) and deploy/packs (session images).
// The tests also apply ops/network/firewall-setup.sh to a private network
// and probe it with real containers.
//
// There is no Go code here besides the tests: nothing in MedForge imports
// this package.
package deploy
