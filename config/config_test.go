package config

import (
	"flag"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) Lookup {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, _, err := Load(env(map[string]string{"MEDFORGE_RUN_DIR": "/tmp/mf"}), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Domain != "localhost" || c.Listen != "127.0.0.1:8000" || c.CookieSecure || !c.OpenSignup ||
		c.DSN != "root@unix(/tmp/mf/mariadb/mysqld.sock)/medforge" || c.SessionTTL != 168*time.Hour {
		t.Fatalf("defaults = %+v", c)
	}
	if c.APIHost() != "api.medforge.localhost" {
		t.Fatalf("api host %q", c.APIHost())
	}
}

func TestEnvAndFlags(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c, rest, err := Load(env(map[string]string{"MEDFORGE_DOMAIN": "Example.ORG", "MEDFORGE_LISTEN": "0.0.0.0:1"}), fs,
		[]string{"--listen", "127.0.0.1:9000", "up"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Domain != "example.org" || c.Listen != "127.0.0.1:9000" || !c.CookieSecure || len(rest) != 1 || rest[0] != "up" {
		t.Fatalf("got %+v rest %v", c, rest)
	}
}

// Every bad setting is reported by its variable name.
func TestBadSettingsNameTheVariable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"listen", map[string]string{"MEDFORGE_LISTEN": "8000"}, "MEDFORGE_LISTEN"},
		{"domain", map[string]string{"MEDFORGE_DOMAIN": "http://x.org"}, "MEDFORGE_DOMAIN"},
		{"data owner without gid", map[string]string{"MEDFORGE_DATA_OWNER": "65532"}, "MEDFORGE_DATA_OWNER"},
		{"data owner by name", map[string]string{"MEDFORGE_DATA_OWNER": "medforge:medforge"}, "MEDFORGE_DATA_OWNER"},
		{"isolation check", map[string]string{"MEDFORGE_ISOLATION_CHECK": "sometimes"}, "MEDFORGE_ISOLATION_CHECK"},
		{"host guard", map[string]string{"MEDFORGE_SESSION_HOST_GUARD": "nftables"}, "MEDFORGE_SESSION_HOST_GUARD"},
		{"one network for both exposures", map[string]string{"MEDFORGE_SESSION_EXTERNAL_NETWORK": "n", "MEDFORGE_SESSION_INTERNAL_NETWORK": "n"}, "MEDFORGE_SESSION_INTERNAL_NETWORK"},
		{"probe interval", map[string]string{"MEDFORGE_ISOLATION_PROBE_INTERVAL": "often"}, "MEDFORGE_ISOLATION_PROBE_INTERVAL"},
		{"bool", map[string]string{"MEDFORGE_OPEN_SIGNUP": "maybe"}, "MEDFORGE_OPEN_SIGNUP"},
		{"int", map[string]string{"MEDFORGE_LOGIN_MAX_ATTEMPTS": "five"}, "MEDFORGE_LOGIN_MAX_ATTEMPTS"},
		{"duration", map[string]string{"MEDFORGE_SESSION_TTL": "7 days"}, "MEDFORGE_SESSION_TTL"},
		{"negative duration", map[string]string{"MEDFORGE_READ_TIMEOUT": "-1s"}, "MEDFORGE_READ_TIMEOUT"},
		{"password too weak", map[string]string{"MEDFORGE_PASSWORD_MIN_LENGTH": "4"}, "MEDFORGE_PASSWORD_MIN_LENGTH"},
		{"ip below account", map[string]string{"MEDFORGE_LOGIN_MAX_ATTEMPTS_PER_IP": "2"}, "MEDFORGE_LOGIN_MAX_ATTEMPTS_PER_IP"},
		{"insecure cookie on real domain", map[string]string{"MEDFORGE_DOMAIN": "example.org", "MEDFORGE_COOKIE_SECURE": "false"}, "MEDFORGE_COOKIE_SECURE"},
		{"origin", map[string]string{"MEDFORGE_EXTRA_ORIGINS": "evil.example"}, "MEDFORGE_EXTRA_ORIGINS"},
		{"proxy", map[string]string{"MEDFORGE_TRUSTED_PROXIES": "10.0.0.0/99"}, "MEDFORGE_TRUSTED_PROXIES"},
		{"log level", map[string]string{"MEDFORGE_LOG_LEVEL": "loud"}, "MEDFORGE_LOG_LEVEL"},
		{"body limit", map[string]string{"MEDFORGE_BODY_LIMIT": "10"}, "MEDFORGE_BODY_LIMIT"},
		{"relative data root", map[string]string{"MEDFORGE_TEST_HOLDOUTS_DIR": "holdouts"}, "MEDFORGE_TEST_HOLDOUTS_DIR=\"holdouts\": must be an absolute path"},
		{"scoring workers", map[string]string{"MEDFORGE_SCORING_WORKERS": "0"}, "MEDFORGE_SCORING_WORKERS"},
		{"scoring timeout", map[string]string{"MEDFORGE_SCORING_TIMEOUT": "soon"}, "MEDFORGE_SCORING_TIMEOUT"},
		{"scoring memory unit", map[string]string{"MEDFORGE_SCORING_MEMORY": "lots"}, "MEDFORGE_SCORING_MEMORY"},
		{"scoring memory too large", map[string]string{"MEDFORGE_SCORING_MEMORY": "5g"}, "MEDFORGE_SCORING_MEMORY"},
		{"embedded worker", map[string]string{"MEDFORGE_EMBEDDED_WORKER": "sometimes"}, "MEDFORGE_EMBEDDED_WORKER"},
		{"poll not below lease", map[string]string{"MEDFORGE_WORKER_POLL": "30s", "MEDFORGE_WORKER_LEASE": "10s"}, "MEDFORGE_WORKER_POLL: must be shorter than MEDFORGE_WORKER_LEASE"},
		{"lease", map[string]string{"MEDFORGE_WORKER_LEASE": "0s"}, "MEDFORGE_WORKER_LEASE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := Load(env(tc.env), nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestCompetitionsSettings(t *testing.T) {
	t.Parallel()
	c, _, err := Load(env(map[string]string{"MEDFORGE_RUN_DIR": "/run/mf"}), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.TrainingDataRoot != "/run/mf/data/training" || c.PublicEvalDataRoot != "/run/mf/data/public-eval" ||
		c.TestHoldoutsDir != "/run/mf/data/test-holdouts" || c.SubmissionsDir != "/run/mf/data/submissions" ||
		c.ScorerStoreDir != "/run/mf/data/scorers" || c.ScorersDir != "" {
		t.Fatalf("default roots = %+v", c)
	}
	if c.ScoringWorkers != 2 || c.ScoringTimeout != time.Minute || c.ScoringMemory != 1<<30 ||
		c.WorkerPoll != 250*time.Millisecond || c.WorkerLease != 30*time.Second || !c.EmbeddedWorker {
		t.Fatalf("default scoring settings = %+v", c)
	}
	c, _, err = Load(env(map[string]string{"MEDFORGE_SCORING_MEMORY": "256m", "MEDFORGE_EMBEDDED_WORKER": "false",
		"MEDFORGE_TRAINING_DATA_ROOT": "/srv/data/training/"}), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.ScoringMemory != 256<<20 || c.EmbeddedWorker || c.TrainingDataRoot != "/srv/data/training" {
		t.Fatalf("got %+v", c)
	}
}

// The data roots and stores must be disjoint, and the error names the
// setting that is inside (or equal to) another.
func TestDataRootsMustBeDisjoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string // substring of the error, "" for none
	}{
		{name: "defaults under the run dir", env: nil},
		{name: "holdouts inside public eval", env: map[string]string{
			"MEDFORGE_PUBLIC_EVAL_DATA_ROOT": "/srv/public", "MEDFORGE_TEST_HOLDOUTS_DIR": "/srv/public/hidden"},
			want: "MEDFORGE_TEST_HOLDOUTS_DIR: must not be inside MEDFORGE_PUBLIC_EVAL_DATA_ROOT (/srv/public)"},
		{name: "training equals holdouts", env: map[string]string{
			"MEDFORGE_TRAINING_DATA_ROOT": "/srv/x", "MEDFORGE_TEST_HOLDOUTS_DIR": "/srv/x/"},
			want: "MEDFORGE_TEST_HOLDOUTS_DIR: must not be the same folder as MEDFORGE_TRAINING_DATA_ROOT"},
		{name: "public eval inside training", env: map[string]string{
			"MEDFORGE_TRAINING_DATA_ROOT": "/srv/t", "MEDFORGE_PUBLIC_EVAL_DATA_ROOT": "/srv/t/p"},
			want: "MEDFORGE_PUBLIC_EVAL_DATA_ROOT: must not be inside MEDFORGE_TRAINING_DATA_ROOT"},
		{name: "training inside the holdouts", env: map[string]string{
			"MEDFORGE_TEST_HOLDOUTS_DIR": "/srv/h", "MEDFORGE_TRAINING_DATA_ROOT": "/srv/h/t"},
			want: "MEDFORGE_TRAINING_DATA_ROOT: must not be inside MEDFORGE_TEST_HOLDOUTS_DIR"},
		{name: "submissions store inside a public root", env: map[string]string{
			"MEDFORGE_TRAINING_DATA_ROOT": "/srv/t", "MEDFORGE_SUBMISSIONS_DIR": "/srv/t/subs"},
			want: "MEDFORGE_SUBMISSIONS_DIR: must not be inside MEDFORGE_TRAINING_DATA_ROOT"},
		{name: "default roots inside an explicit public root", env: map[string]string{
			"MEDFORGE_RUN_DIR": "/srv/run", "MEDFORGE_PUBLIC_EVAL_DATA_ROOT": "/srv/run"},
			want: "MEDFORGE_TEST_HOLDOUTS_DIR: must not be inside MEDFORGE_PUBLIC_EVAL_DATA_ROOT"},
		{name: "siblings with a shared prefix are fine", env: map[string]string{
			"MEDFORGE_TRAINING_DATA_ROOT": "/srv/data", "MEDFORGE_TEST_HOLDOUTS_DIR": "/srv/data-hidden"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := map[string]string{"MEDFORGE_RUN_DIR": "/run/medforge"}
			for k, v := range tc.env {
				m[k] = v
			}
			_, _, err := Load(env(m), nil, nil)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestSessionSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, s Sessions)
		wantErr []string
	}{
		{name: "defaults", env: map[string]string{}, check: func(t *testing.T, s Sessions) {
			if s.Mode != "auto" || s.NanoCPUs != 8e9 || s.MemoryBytes != 32<<30 || s.PidsLimit != 4096 ||
				s.BackoffMax != 60*time.Second || s.IdleTimeout != 0 || s.StartTimeout != 2*time.Minute {
				t.Fatalf("defaults = %+v", s)
			}
		}},
		{name: "backoff cap and packs", env: map[string]string{"SESSION_POLL_BACKOFF_MAX_SECONDS": "7", "MEDFORGE_PACKS": "r=img/r@sha256:ab, jax=img/jax"},
			check: func(t *testing.T, s Sessions) {
				if s.BackoffMax != 7*time.Second || len(s.Packs) != 2 || s.Packs["r"] != "img/r@sha256:ab" || s.Packs["jax"] != "img/jax" {
					t.Fatalf("got %+v", s)
				}
			}},
		{name: "prefixed backoff wins", env: map[string]string{"SESSION_POLL_BACKOFF_MAX_SECONDS": "7", "MEDFORGE_SESSION_POLL_BACKOFF_MAX_SECONDS": "9"},
			check: func(t *testing.T, s Sessions) {
				if s.BackoffMax != 9*time.Second {
					t.Fatalf("backoff %s", s.BackoffMax)
				}
			}},
		{name: "bad values are all named", env: map[string]string{"MEDFORGE_SESSIONS": "maybe", "MEDFORGE_SESSION_MEMORY": "lots", "MEDFORGE_SESSION_IDLE_TIMEOUT": "soon", "MEDFORGE_ROUTING_RESYNC": "1ms"},
			wantErr: []string{"MEDFORGE_SESSIONS=", "MEDFORGE_SESSION_MEMORY", "MEDFORGE_SESSION_IDLE_TIMEOUT", "MEDFORGE_ROUTING_RESYNC"}},
		{name: "default pack comes from PACK_IMAGE", env: map[string]string{"MEDFORGE_PACKS": "default=x"}, wantErr: []string{"MEDFORGE_PACKS"}},
		{name: "workspaces kind", env: map[string]string{"MEDFORGE_WORKSPACES": "nfs:/x"}, wantErr: []string{"MEDFORGE_WORKSPACES"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _, err := Load(env(tc.env), nil, nil)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error lacks %s: %v", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c.Sessions)
		})
	}
}

// FuzzLoad: any environment value gives a Config or an error naming a
// variable, never a panic.
func FuzzLoad(f *testing.F) {
	f.Add("localhost", "127.0.0.1:8000", "auto", "5", "15m")
	f.Add("", ":", "yes", "-1", "0s")
	f.Fuzz(func(t *testing.T, domain, listen, secure, attempts, window string) {
		_, _, err := Load(env(map[string]string{
			"MEDFORGE_DOMAIN": domain, "MEDFORGE_LISTEN": listen, "MEDFORGE_COOKIE_SECURE": secure,
			"MEDFORGE_LOGIN_MAX_ATTEMPTS": attempts, "MEDFORGE_LOGIN_WINDOW": window,
		}), nil, nil)
		if err != nil && !strings.Contains(err.Error(), "MEDFORGE_") {
			t.Fatalf("error names no variable: %v", err)
		}
	})
}
