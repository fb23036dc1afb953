// Package synth generates deterministic synthetic competition data for the
// built-in formats: hidden holdouts of any size, labelled training files,
// public test files, sample submissions, and random or perturbed
// submissions of a chosen quality.
//
// The same (slug, seed, n) always yields the same bytes, on every platform
// and Go version (it uses math/rand/v2's PCG with explicit seeds and
// formats numbers itself). Tests, benchmarks and the competitions service's
// seeding use it. It never reads or writes files and holds no real data.
package synth
