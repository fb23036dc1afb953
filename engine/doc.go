// Package engine turns a competitor's CSV into an official score.
//
// It owns submission validation, hidden holdouts (Arrow IPC) and the
// sandboxed execution of scorer modules (WebAssembly, through wazero).
// It never talks HTTP and never touches the database: the competitions
// service and the CLI call it. Holdout contents never leave it except as
// the aggregate numbers a scorer returns.
//
// The package itself holds Engine, the one assembly of the scoring pipeline
// that the CLI, the competitions intake, its worker and scorer validation
// all use (one Version, one finite-score check, one PublicMessage rule). It
// joins the parts: engine/spec
// (what a competition's files look like), engine/strictcsv (byte-level CSV
// rules), engine/submission (participant-facing rules and alignment),
// engine/holdout (Arrow holdouts) and engine/sandbox (running modules).
// engine/synth generates synthetic data sets. See docs/scoring.md.
package engine

// Version identifies the scoring engine in every Result, hence in every
// score row and `medforge score` output, so a rescoring can tell results of
// different engines apart.
const Version = "medforge-engine/1"
