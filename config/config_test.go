package config

import (
	"flag"
	"os"
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
	if c.CookieDomain() != ".medforge.localhost" || c.APIHost() != "api.medforge.localhost" {
		t.Fatalf("hosts %q %q", c.CookieDomain(), c.APIHost())
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

// docs/configuration.md documents every setting with its default.
func TestDocumented(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, s := range Settings {
		line := ""
		for _, l := range strings.Split(doc, "\n") {
			if strings.Contains(l, "`"+s.Env+"`") {
				line = l
				break
			}
		}
		if line == "" {
			t.Errorf("%s is not in docs/configuration.md", s.Env)
			continue
		}
		if s.Default != "" && !strings.Contains(line, "`"+s.Default+"`") {
			t.Errorf("docs/configuration.md line for %s lacks its default `%s`: %s", s.Env, s.Default, line)
		}
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
