// Package engine turns a competitor's CSV into an official score.
//
// It owns submission validation, hidden holdouts (Arrow IPC) and the
// sandboxed execution of scorer modules (WebAssembly, through wazero).
// It never talks HTTP and never touches the database: the competitions
// service and the CLI call it. Holdout contents never leave it except as
// the aggregate numbers a scorer returns.
package engine

// Version identifies the scoring engine in every score row it produces, so a
// rescoring can tell results of different engines apart.
const Version = "medforge-engine/1"
