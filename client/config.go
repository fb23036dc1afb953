package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DefaultAPIURL is used when neither the environment nor the config file
// names a server: the API of a local `make run`.
const DefaultAPIURL = "http://127.0.0.1:8000"

// Config is where the CLI finds the API and its token.
type Config struct {
	APIURL string `json:"api_url"`
	Token  string `json:"token"`
	// Path is the config file that was read ("" when none was).
	Path string `json:"-"`
	// Warnings are problems worth telling the user (e.g. a config file
	// others can read).
	Warnings []string `json:"-"`
}

// ConfigPath is the config file: $MEDFORGE_CONFIG, else
// $XDG_CONFIG_HOME/medforge/config.json, else
// ~/.config/medforge/config.json.
func ConfigPath(getenv func(string) string) string {
	if p := getenv("MEDFORGE_CONFIG"); p != "" {
		return p
	}
	if x := getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "medforge", "config.json")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", "medforge", "config.json")
	}
	return ""
}

// LoadConfig reads the config file (when it exists), then lets
// MEDFORGE_API_URL and MEDFORGE_TOKEN override it. A config file that
// exists but is not valid JSON is an error naming the file.
func LoadConfig(getenv func(string) string) (Config, error) {
	var c Config
	if p := ConfigPath(getenv); p != "" {
		data, err := os.ReadFile(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return c, fmt.Errorf("read config %s: %w", p, err)
		default:
			if err := json.Unmarshal(data, &c); err != nil {
				return c, fmt.Errorf("config %s is not valid JSON ({\"api_url\": ..., \"token\": ...}): %w", p, err)
			}
			c.Path = p
			if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o077 != 0 && c.Token != "" {
				c.Warnings = append(c.Warnings, fmt.Sprintf("%s holds a token and others can read it; run chmod 600 %s", p, p))
			}
		}
	}
	if v := getenv("MEDFORGE_API_URL"); v != "" {
		c.APIURL = v
	}
	if v := getenv("MEDFORGE_TOKEN"); v != "" {
		c.Token = v
	}
	if c.APIURL == "" {
		c.APIURL = DefaultAPIURL
	}
	c.APIURL = strings.TrimRight(c.APIURL, "/")
	c.APIURL = strings.TrimSuffix(c.APIURL, "/api/v2")
	c.Token = strings.TrimSpace(c.Token)
	return c, nil
}
