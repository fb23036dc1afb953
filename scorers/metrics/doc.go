// Package metrics holds the pure-Go implementations of MedForge's built-in
// metrics, usable natively (tests, benchmarks) and inside scorer modules
// built with scorers/sdk: Accuracy (titanic-survival), Top1
// (cifar-100-classification) and MapIoU (rsna-pneumonia-detection, the exact
// rule of Kaggle's community reference).
//
// It owns arithmetic only. It never reads files, never touches the sandbox
// and never imports fmt or os, so that modules built from it need no WASI
// import beyond the sandbox's allowlist.
package metrics
