// Package stacktest starts the real parts that MedForge's end-to-end tests
// run against: the medforge binary ($MEDFORGE_BIN, or one built once per
// test binary), `medforge serve` processes, Caddy with
// deploy/caddy/Caddyfile.local, and a unix-socket proxy that can cut a test
// off from the Docker engine. It removes what it started (processes,
// session containers, the built binary) when the test or test binary ends.
//
// It is for tests only and must never be imported by production code.
package stacktest
