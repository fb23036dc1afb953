// Package holdout owns hidden holdouts: the truth a submission is scored
// against, in memory as Arrow-layout columns aligned to the holdout's unit
// order, on disk as Arrow IPC files, imported from the competition's label
// CSV with the same strict rules as submissions.
//
// A Holdout is immutable once built and safe for concurrent use; it carries
// a prepared id Index and a content Digest, so a service may load it once
// and validate many submissions against it cheaply.
//
// Arrow layout (one row per unit): the id column as utf8, then the truth
// columns: int64 or float64 columns named as the submission's columns for
// the "rows" layout; for the "box-rows" (detection) layout one
// list<float64> column "boxes" holding x,y,width,height of each
// ground-truth box in holdout order, empty for a unit with no box.
//
// The package never logs or returns holdout values in errors meant for
// participants: its errors concern holdout files, which only
// administrators supply.
package holdout
