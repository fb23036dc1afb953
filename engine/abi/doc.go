// Package abi defines scorer ABI v1, the contract between the MedForge host
// (engine/sandbox) and scorer modules: the typed columnar Input a module
// receives, the Result or GuestError it returns, and the binary wire layout
// of both (EncodeInput/DecodeInput on the way in, EncodeResult/EncodeError/
// DecodeOutput on the way out). docs/scorer-abi.md is the language-neutral
// specification; this package is its reference implementation.
//
// It owns only data layout. It never runs modules, never reads files and
// never imports anything outside the standard library, so that the same code
// compiles for the host and for GOOS=wasip1 guests. Decoders treat every
// buffer as hostile: they return an error wrapping ErrMalformed and never
// panic, whatever the bytes.
package abi
