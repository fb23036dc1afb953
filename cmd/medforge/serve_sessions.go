package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/medforge/medforge/config"
	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/sessions/dockerrt"
	"github.com/medforge/medforge/sessions/gpu"
	"github.com/medforge/medforge/sessions/httpsessions"
	"github.com/medforge/medforge/sessions/standin"
	"github.com/medforge/medforge/sessions/workspace"
	"github.com/medforge/medforge/store"
)

func init() {
	onServe("sessions", func(ctx context.Context, env *serveEnv) error {
		svc, err := newSessions(ctx, env.Config, env.Store, env.Logger)
		if err != nil || svc == nil {
			return err
		}
		if err := mountSessions(ctx, env, svc); err != nil {
			svc.Close()
			return err
		}
		env.Go("session-runtime", func(ctx context.Context) error {
			<-ctx.Done()
			svc.Close()
			return nil
		})
		return nil
	})
}

// mountSessions puts svc's routes and the session proxy's route table on
// env.Server. The OpenAPI golden test mounts through it too, so the document
// it checks is the one serve answers.
func mountSessions(ctx context.Context, env *serveEnv, svc *sessions.Service) error {
	if err := httpsessions.Mount(env.Server, svc); err != nil {
		return err
	}
	if env.Identity != nil {
		// A revoked can_use_internal stops the user's INTERNAL sessions at
		// once (recovery stops them), not at the next poll.
		env.Identity.OnUserChange(func(int64) { svc.Kick() })
	}
	return startRouting(ctx, env, svc)
}

// newSessions builds and starts the session runtime from cfg.Sessions. In auto mode a host without Docker, or without a pack
// image and a source tree to build the stand-in from, runs without
// sessions (nil, nil) and says why.
func newSessions(ctx context.Context, cfg config.Config, st store.Store, log *slog.Logger) (*sessions.Service, error) {
	set := cfg.Sessions
	if set.Mode == "off" {
		log.Info("sessions are off (MEDFORGE_SESSIONS=off)")
		return nil, nil
	}
	skip := func(err error) (*sessions.Service, error) {
		if set.Mode == "on" {
			return nil, err
		}
		log.Warn("sessions disabled (MEDFORGE_SESSIONS=auto); set MEDFORGE_SESSIONS=on to make this fatal", "reason", err.Error())
		return nil, nil
	}
	if set.Runtime == "kubernetes" {
		return newKubeSessions(ctx, cfg, st, log, skip)
	}
	roots := competitionRoots(cfg)
	rt, err := dockerrt.New(dockerrt.Options{Host: set.DockerHost, ForbiddenDir: roots.Holdouts,
		Networks:       dockerrt.NamedNetworks(set.ExternalNetwork, set.InternalNetwork),
		NoHostFirewall: set.HostGuard == "host"})
	if err != nil {
		return skip(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = rt.Ping(pctx)
	cancel()
	if err != nil {
		rt.Close()
		return skip(fmt.Errorf("the Docker engine does not answer: %w", err))
	}
	image, soft, err := packImage(ctx, cfg, rt, log)
	if soft != nil || err != nil {
		rt.Close()
		if err != nil {
			return nil, err
		}
		return skip(soft)
	}
	sc := sessionsConfig(cfg)
	if sc.Packs, err = dockerPacks(cfg, image); err != nil {
		rt.Close()
		return nil, err
	}
	gp, err := gpuProvider(ctx, set.GPUs, log)
	if err != nil {
		rt.Close()
		return nil, err
	}
	ws, err := workspaceProvider(set, cfg)
	if err != nil {
		rt.Close()
		return nil, err
	}
	log.Info("session runtime", "gpus", gp.Kind(), "workspaces", ws.Kind(), "image", image, "instance", sc.Instance)
	svc, err := sessions.New(sc, st, gp, ws, rt, log)
	if err != nil {
		rt.Close()
		return nil, err
	}
	if err := checkIsolation(cfg, rt, svc, sc, log); err != nil {
		svc.Close()
		rt.Close()
		return nil, err
	}
	if err := svc.Start(ctx); err != nil {
		svc.Close()
		rt.Close()
		return skip(err)
	}
	return svc, nil
}

// packImage resolves the default pack image of the Docker runtime:
// MEDFORGE_PACK_IMAGE, digest-pinned outside local runs, or in a local run
// without one the stand-in IDE, built on rt. A missing image or a failed
// stand-in build comes back as soft (auto mode runs without sessions); an
// unpinned image outside local runs as err (always fatal).
func packImage(ctx context.Context, cfg config.Config, rt *dockerrt.Docker, log *slog.Logger) (image string, soft, err error) {
	image = cfg.Sessions.PackImage
	switch {
	case image == "" && !cfg.Local():
		return "", errors.New("MEDFORGE_PACK_IMAGE is required outside local runs (a digest-pinned image@sha256:...)"), nil
	case image == "":
		bctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		image, err = standin.Build(bctx, rt.Client(), "")
		cancel()
		if err != nil {
			return "", fmt.Errorf("no MEDFORGE_PACK_IMAGE and the stand-in IDE could not be built: %w", err), nil
		}
		log.Warn("no MEDFORGE_PACK_IMAGE: sessions run the stand-in IDE (HTTP + websocket echo), not code-server", "image", image)
	case !cfg.Local() && !sessions.DigestPinned(image):
		return "", nil, fmt.Errorf("MEDFORGE_PACK_IMAGE=%q must be digest-pinned (image@sha256:...) outside local runs", image)
	}
	return image, nil, nil
}

// dockerPacks is the runtime's pack table: image as "default" plus
// MEDFORGE_PACKS, each digest-pinned outside local runs.
func dockerPacks(cfg config.Config, image string) (map[string]string, error) {
	packs := map[string]string{"default": image}
	for k, v := range cfg.Sessions.Packs {
		if !cfg.Local() && !sessions.DigestPinned(v) {
			return nil, fmt.Errorf("MEDFORGE_PACKS: pack %s=%q must be digest-pinned (image@sha256:...) outside local runs", k, v)
		}
		packs[k] = v
	}
	return packs, nil
}

// checkIsolation gives svc the east-west isolation probe when
// MEDFORGE_ISOLATION_CHECK asks for it (probe, or auto outside local runs)
// and otherwise says that isolation is not checked.
func checkIsolation(cfg config.Config, rt *dockerrt.Docker, svc *sessions.Service, sc sessions.Config, log *slog.Logger) error {
	set := cfg.Sessions
	if set.IsolationCheck == "probe" || (set.IsolationCheck == "auto" && !cfg.Local()) {
		probe, err := rt.NewIsolationProbe(dockerrt.ProbeOptions{Image: set.ProbeImage, Instance: sc.Instance,
			Networks: []string{set.ExternalNetwork, set.InternalNetwork}})
		if err != nil {
			return err
		}
		svc.SetIsolation(sessions.NewIsolation(probe), set.ProbeInterval)
	} else {
		log.Warn("east-west isolation is not checked (MEDFORGE_ISOLATION_CHECK); sessions may reach each other's IDE unless the host firewall is applied")
	}
	return nil
}

// sessionsConfig maps the session settings and the competitions' data roots
// to the runtime's Config (packs are added once the default image is known).
func sessionsConfig(cfg config.Config) sessions.Config {
	set, roots := cfg.Sessions, competitionRoots(cfg)
	sc := sessions.Config{
		Instance: set.Instance, NanoCPUs: set.NanoCPUs, MemoryBytes: set.MemoryBytes, PidsLimit: set.PidsLimit,
		TrainingDataRoot: roots.TrainingData, PublicEvalDataRoot: roots.PublicEval, TestHoldoutsDir: roots.Holdouts,
		StartTimeout: set.StartTimeout, StopGrace: set.StopGrace, PollInterval: set.PollInterval, BackoffMax: set.BackoffMax,
		IdleTimeout: set.IdleTimeout, MaxLifetime: set.MaxLifetime,
		ExternalNetwork: set.ExternalNetwork, InternalNetwork: set.InternalNetwork,
		GPUBusyPercent: set.GPUBusyPercent, WarnBefore: set.WarnBefore, MaxExtension: set.MaxExtension,
		Retention: sessions.Retention{KeepLast: set.SnapshotKeepLast, MaxAge: set.SnapshotMaxAge, QuotaBytes: set.SnapshotQuotaBytes},
	}
	if sc.Instance == "" {
		// Containers belong to the database holding their rows: a test
		// database and a dev run on one host never touch each other's.
		sc.Instance = "default"
		if dc, err := store.ParseDSN(cfg.DSN); err == nil && dc.DBName != "" {
			sc.Instance = dc.DBName
		}
	}
	return sc
}

// gpuProvider: a declared list when MEDFORGE_GPUS says so, else NVML, else
// (no NVIDIA library) no GPU at all, with a message saying how to declare.
func gpuProvider(ctx context.Context, spec string, log *slog.Logger) (sessions.GPUProvider, error) {
	if spec != "" {
		return gpu.ParseDeclared(spec)
	}
	n, err := gpu.OpenNVML(log)
	if errors.Is(err, gpu.ErrNoNVML) {
		log.Warn("no GPU provider: sessions will answer no_gpu_available", "reason", err.Error())
		return gpu.ParseDeclared("none")
	}
	if err != nil {
		return nil, err
	}
	go func() {
		if err := n.WatchXIDs(ctx); err != nil {
			log.Warn("XID events unavailable; the health gate checks pages, row remaps and processes only", "err", err.Error())
		}
	}()
	return n, nil
}

func workspaceProvider(set config.Sessions, cfg config.Config) (sessions.WorkspaceProvider, error) {
	kind, arg, _ := strings.Cut(set.Workspaces, ":")
	switch kind {
	case "zfs":
		return workspace.NewZFS(arg, set.WorkspaceQuota)
	case "dir":
		return workspace.NewDirectory(arg)
	case "":
		if _, err := exec.LookPath("zfs"); err == nil {
			if z, err := workspace.NewZFS("", set.WorkspaceQuota); err == nil {
				return z, nil
			}
		}
		return workspace.NewDirectory(filepath.Join(cfg.RunDir, "workspaces"))
	}
	return nil, fmt.Errorf("MEDFORGE_WORKSPACES=%q: want zfs:<dataset> or dir:<path>", set.Workspaces)
}
