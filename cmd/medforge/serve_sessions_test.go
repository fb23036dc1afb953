package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/medforge/medforge/config"
	"github.com/medforge/medforge/store/testdb"
)

// newSessions refuses production configurations that would run unpinned
// images, honours MEDFORGE_SESSIONS=off, and starts a runtime with a
// declared GPU list on this host.
func TestNewSessionsConfiguration(t *testing.T) {
	st := testdb.Store(t)
	pinned := "registry.example.org/medforge/pack@sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		name    string
		domain  string
		env     map[string]string
		wantErr string
		wantNil bool
	}{
		{name: "off", domain: "localhost", env: map[string]string{"MEDFORGE_SESSIONS": "off"}, wantNil: true},
		{name: "production needs an image", domain: "example.org", env: map[string]string{"MEDFORGE_SESSIONS": "on"}, wantErr: "MEDFORGE_PACK_IMAGE is required"},
		{name: "production image must be pinned", domain: "example.org",
			env: map[string]string{"MEDFORGE_SESSIONS": "on", "MEDFORGE_PACK_IMAGE": "registry.example.org/pack:latest"}, wantErr: "digest-pinned"},
		{name: "production extra packs must be pinned", domain: "example.org",
			env: map[string]string{"MEDFORGE_SESSIONS": "on", "MEDFORGE_PACK_IMAGE": pinned, "MEDFORGE_PACKS": "r=img/r:1"}, wantErr: "MEDFORGE_PACKS"},
		{name: "auto without Docker runs without sessions", domain: "localhost",
			env: map[string]string{"MEDFORGE_DOCKER_HOST": "unix:///nonexistent/docker.sock"}, wantNil: true},
		{name: "local run with a declared list and directories", domain: "localhost",
			env: map[string]string{"MEDFORGE_SESSIONS": "on", "MEDFORGE_GPUS": "0,1", "MEDFORGE_PACK_IMAGE": "medforge/standin-ide:test",
				"MEDFORGE_SESSION_INSTANCE": "cmd-test-" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "")}},
		{name: "on without Docker is fatal", domain: "localhost",
			env: map[string]string{"MEDFORGE_SESSIONS": "on", "MEDFORGE_DOCKER_HOST": "unix:///nonexistent/docker.sock"}, wantErr: "Docker engine does not answer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"MEDFORGE_DOMAIN": tc.domain, "MEDFORGE_RUN_DIR": t.TempDir()}
			for k, v := range tc.env {
				env[k] = v
			}
			cfg, _, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			svc, err := newSessions(ctx, cfg, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantNil != (svc == nil) {
				t.Fatalf("service = %v, want nil: %v", svc, tc.wantNil)
			}
			if svc != nil {
				defer svc.Close()
				gpus, err := svc.GPUs(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(gpus) != 2 || gpus[0].Provider != "declared" {
					t.Fatalf("GPUs = %+v, want the declared list 0,1", gpus)
				}
				if got := svc.Config().Packs["default"]; got != "medforge/standin-ide:test" {
					t.Fatalf("default pack = %q", got)
				}
			}
		})
	}
}
