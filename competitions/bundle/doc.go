// Package bundle reads competition bundles: a directory holding a manifest
// (competition.json), the hidden holdout (CSV or Arrow), an optional
// scorer.wasm, and public files (training/, public/ with
// sample_submission.csv). It also builds the bundles of the three permanent
// built-in competitions from deterministic synthetic data (engine/synth).
//
// bundle parses outside input strictly: every refusal names the manifest
// field or file at fault. It never writes anything and never talks to the
// database; competitions.Service.Install does that. Holdout bytes it reads
// go only into the returned Bundle, never to a log or an error message.
package bundle
