// Package metrics holds the pure-Go implementations of MedForge's built-in
// metrics, usable natively (tests, benchmarks) and inside scorer modules
// built with scorers/sdk: Accuracy (titanic-survival), Top1
// (cifar-100-classification) and MapIoU (rsna-pneumonia-detection, the exact
// rule of Kaggle's community reference).
//
// It owns arithmetic only. It never reads files or the environment and
// never touches the sandbox, so the same code runs natively and inside a
// module that the sandbox's import allowlist accepts.
package metrics
