// Package scorers knows MedForge's built-in scorer modules: their names,
// how to build them from the sources in this directory (Go modules with
// scorers/sdk, one C module with wasi-libc), and where a running binary
// finds the built .wasm files.
//
// It owns building and locating modules only. It never runs a module (that
// is engine/sandbox) and never ships a prebuilt binary: every .wasm comes
// from source in this repository.
package scorers
