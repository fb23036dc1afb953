// Package stacktest holds the end-to-end test of the production Compose
// stack (stack_test.go, build tag "stack"): images built here, the stack
// brought up with ops/stack/stack.sh, and walked over HTTPS through Caddy
// only. It takes minutes and host ports 80/443, so `make test` compiles
// nothing here; `make test-stack` (a step of .ci/run) runs it with
// -tags stack under the shared Docker lock.
package stacktest
