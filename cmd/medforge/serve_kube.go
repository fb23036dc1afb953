package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/medforge/medforge/config"
	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/sessions/kubert"
	"github.com/medforge/medforge/store"
)

// newKubeSessions builds the session runtime on Kubernetes
// (MEDFORGE_RUNTIME=kubernetes): sessions/kubert is the runtime, the
// workspace provider (PVCs and VolumeSnapshots) and the GPU inventory (the
// nodes' allocatable nvidia.com/gpu). Pack images must be digest-pinned.
func newKubeSessions(ctx context.Context, cfg config.Config, st store.Store, log *slog.Logger,
	skip func(error) (*sessions.Service, error)) (*sessions.Service, error) {
	set := cfg.Sessions
	k := set.Kube
	var rc *rest.Config
	var err error
	if k.Kubeconfig != "" {
		rc, err = clientcmd.BuildConfigFromFlags("", k.Kubeconfig)
	} else {
		rc, err = rest.InClusterConfig()
	}
	if err != nil {
		return skip(fmt.Errorf("kubernetes client configuration (MEDFORGE_KUBECONFIG or in-cluster): %w", err))
	}
	kc := kubert.Config{SystemNamespace: k.Namespace, StorageClass: k.StorageClass, SnapshotClass: k.SnapshotClass,
		GPUNodeSelector: k.GPUNodeSelector, RequireDigest: true, HoldoutsClaim: k.HoldoutsClaim,
		UnschedulableGrace: k.UnschedulableGrace}
	for _, dc := range []kubert.DataClaim{{Claim: k.TrainingDataClaim, Target: "/data/training"},
		{Claim: k.PublicEvalDataClaim, Target: "/data/public-eval"}} {
		if dc.Claim != "" {
			kc.DataClaims = append(kc.DataClaims, dc)
		}
	}
	if kc.WorkspaceSize, err = resource.ParseQuantity(k.WorkspaceSize); err != nil {
		return nil, fmt.Errorf("MEDFORGE_KUBE_WORKSPACE_SIZE=%q: %w", k.WorkspaceSize, err)
	}
	if kc.EphemeralStorage, err = resource.ParseQuantity(k.EphemeralStorage); err != nil {
		return nil, fmt.Errorf("MEDFORGE_KUBE_EPHEMERAL_STORAGE=%q: %w", k.EphemeralStorage, err)
	}
	kc.Instance = sessionsConfig(cfg).Instance
	drv, err := kubert.New(rc, kc)
	if err != nil {
		return skip(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = drv.Ping(pctx)
	cancel()
	if err != nil {
		drv.Close()
		return skip(fmt.Errorf("the Kubernetes API server does not answer: %w", err))
	}
	if set.PackImage == "" || !sessions.DigestPinned(set.PackImage) {
		drv.Close()
		return nil, fmt.Errorf("MEDFORGE_PACK_IMAGE=%q must be set and digest-pinned (image@sha256:...) on Kubernetes", set.PackImage)
	}
	sc := sessionsConfig(cfg)
	// Host data roots mean nothing on a cluster: the public data comes
	// from the read-only data claims (MEDFORGE_KUBE_*_DATA_CLAIM) instead.
	// Hidden test data stays named so that any mount overlapping it is
	// refused.
	sc.TrainingDataRoot, sc.PublicEvalDataRoot = "", ""
	sc.UnschedulableHold = k.UnschedulableHold
	sc.Packs = map[string]string{"default": set.PackImage}
	for name, img := range set.Packs {
		if !sessions.DigestPinned(img) {
			drv.Close()
			return nil, fmt.Errorf("MEDFORGE_PACKS: pack %s=%q must be digest-pinned (image@sha256:...)", name, img)
		}
		sc.Packs[name] = img
	}
	log.Info("session runtime", "runtime", "kubernetes", "image", set.PackImage, "instance", sc.Instance,
		"storage_class", k.StorageClass, "snapshot_class", k.SnapshotClass)
	svc, err := sessions.New(sc, st, drv.GPUs(), drv, drv, log)
	if err != nil {
		drv.Close()
		return nil, err
	}
	if err := svc.Start(ctx); err != nil {
		svc.Close()
		drv.Close()
		return skip(err)
	}
	return svc, nil
}
