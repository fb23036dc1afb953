// Package submission validates a participant's CSV against a competition's
// spec and hidden holdout, and aligns it to the holdout as the scorer
// input (engine/abi).
//
// It owns the participant-facing rules: the exact header (any column
// order), one row per holdout id (no unknown, duplicate or missing ids),
// typed values (integer ranges, finite numbers, PredictionStrings), and
// size and row limits, on top of strictcsv's byte rules. Every problem names
// the row, the column and the offending value.
//
// Problems quote only the participant's own file and, for missing ids, a
// few ids of the holdout: ids are not secret (they are in the public test
// set), truth values are. The package must never put a truth value in a
// problem or an error. It never runs scorers and never reads files.
package submission
