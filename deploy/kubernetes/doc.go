// Package kubernetes holds MedForge's Kubernetes manifests (kustomize:
// kubectl apply -k deploy/kubernetes) and the test that dry-runs them on a
// real API server. It has no Go code of its own.
package kubernetes
