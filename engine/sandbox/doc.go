// Package sandbox runs untrusted scorer modules (WebAssembly, scorer ABI v1)
// through wazero, inside a pool of long-lived worker processes.
//
// It owns: loading a module (compile once per content digest through
// wazero's on-disk compilation cache, in a folder only the engine writes;
// import allowlist and ABI exports checked at load), and running one scoring
// in a fresh instance with no filesystem, network, environment or arguments,
// deterministic clocks and randomness, a memory cap, an output size cap and a
// time limit. The time limit is enforced by killing the worker process, so
// the hot path runs without wazero's WithCloseOnContextDone (see
// docs/sandbox.md for the measured cost it avoids).
//
// It must never: share a module instance between goroutines or scorings,
// give a guest a file descriptor or preopened directory, let a guest failure
// take the calling process down, or put a guest's internal error text where a
// participant can see it (only *abi.GuestError with Public set is meant for
// participants). It does not read holdouts or submissions: callers pass an
// already aligned abi.Input.
//
// A binary that creates a Pool must call MaybeRunWorker first thing in main
// (test binaries: in TestMain), because workers are re-executions of the
// current executable.
package sandbox
