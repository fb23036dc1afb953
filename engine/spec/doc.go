// Package spec describes what a competition's files look like and how they
// are scored: the id column, the typed submission columns, the holdout
// layout, the metric module and the score direction.
//
// A Spec is a plain value: the three built-in competitions are Spec values
// returned by Builtin, and the competitions service builds others from a
// bundle manifest (the JSON form of Spec) and checks them with Validate. The
// package never reads files, never holds holdout data and never runs a
// scorer.
package spec
