// Package competitions owns MedForge's permanent competitions: their
// datasets and public files, hidden holdout versions, content-addressed
// scorer modules, submission intake with exact daily caps, the scoring queue
// and its workers, rescoring with an atomic switch of the official score,
// and the deterministic leaderboard with bootstrap confidence intervals.
//
// Invariants it guarantees (each inside one store.InTx):
//   - a user never has more accepted submissions per competition per UTC
//     day than the competition's cap, however many uploads race;
//   - a scored submission has exactly one official score row, and the same
//     scorer and holdout digests never produce a second row;
//   - a leased submission is finished by at most one worker: a worker whose
//     lease expired cannot write its result.
//
// It must never serve, copy or log the bytes of anything under
// TEST_HOLDOUTS_DIR: only the Engine (and through it the worker) opens a
// holdout, by a path the package builds from the holdout_versions row. Public
// files are served only from TRAINING_DATA_ROOT and PUBLIC_EVAL_DATA_ROOT,
// looked up by name in dataset_files, never by a client-supplied path.
// The package never talks HTTP (see competitions/httpcomp) and never runs a
// scorer itself (see Engine).
package competitions
