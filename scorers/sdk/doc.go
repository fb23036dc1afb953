// Package sdk is the Go guest SDK for MedForge scorer modules (scorer ABI
// v1, docs/scorer-abi.md). A metric author writes one Metric, registers it
// from package main's init, and builds with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o m.wasm ./mymetric
//
// The SDK provides the ABI exports (marker, minor, alloc, score) through
// //go:wasmexport when built for wasip1; on the host, Run executes the very
// same decode-score-encode path so metrics are testable natively.
//
// It owns the guest side of the ABI only. It never touches files or the
// environment (os file functions import path_open, which the sandbox
// refuses at load), and it never lets a metric's panic or non-public error
// text become a participant-visible message.
package sdk
