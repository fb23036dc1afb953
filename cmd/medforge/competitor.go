package main

// Shared plumbing of the competitor commands (submit, submissions,
// leaderboard): configuration, flag parsing with flags after positional
// arguments, exit codes and output. See docs/cli.md.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/medforge/medforge/client"
	"github.com/medforge/medforge/engine"
	"github.com/medforge/medforge/internal/humanize"
)

// Exit codes of the competitor commands; docs/cli.md lists them for
// scripts.
const (
	exitOK          = 0
	exitFailure     = 1 // anything else: a server error, an unexpected answer
	exitUsage       = 2 // bad flags or arguments, no token, unreadable file
	exitAuth        = 3 // the token is missing, wrong, expired or not allowed (401, 403)
	exitNotFound    = 4 // no such competition or submission (404)
	exitInvalid     = 5 // the file was rejected (422); it did not count toward the cap
	exitCapReached  = 6 // today's submission cap is used (429)
	exitUnreachable = 7 // the server could not be reached
	exitScoreFailed = 8 // submit --wait: scoring ended in failure
)

// competitorCmd is the state of one competitor command run.
type competitorCmd struct {
	name   string
	fs     *flag.FlagSet
	json   bool
	apiURL string
	stdout io.Writer
	stderr io.Writer
	cfg    client.Config
}

func newCompetitorCmd(name string) *competitorCmd {
	c := &competitorCmd{name: name, fs: flag.NewFlagSet(name, flag.ContinueOnError), stdout: os.Stdout, stderr: os.Stderr}
	c.fs.SetOutput(c.stderr)
	c.fs.BoolVar(&c.json, "json", false, "print machine-readable JSON on stdout")
	c.fs.StringVar(&c.apiURL, "api-url", "", "MedForge server (default: $MEDFORGE_API_URL, the config file's api_url, or "+client.DefaultAPIURL+")")
	return c
}

// parse parses flags that may come before or after positional arguments
// and returns the positional ones.
func (c *competitorCmd) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := c.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, withExit(exitUsage, errors.New(""))
			}
			return nil, withExit(exitUsage, err)
		}
		rest := c.fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// usage sets what -h and a usage error print: "usage: " line, then the flags.
func (c *competitorCmd) usage(line string) {
	c.fs.Usage = func() {
		fmt.Fprintln(c.stderr, "usage: "+line)
		c.fs.PrintDefaults()
	}
}

// parseSlug parses args that must name exactly one competition SLUG
// besides flags, and returns the slug.
func (c *competitorCmd) parseSlug(args []string) (string, error) {
	pos, err := c.parse(args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		c.fs.Usage()
		return "", withExit(exitUsage, errors.New("need exactly one competition SLUG"))
	}
	return pos[0], nil
}

// client builds the API client from the config file, the environment and
// --api-url; it needs a token.
func (c *competitorCmd) client() (*client.Client, error) {
	cfg, err := client.LoadConfig(os.Getenv)
	if err != nil {
		return nil, withExit(exitUsage, err)
	}
	if c.apiURL != "" {
		cfg.APIURL = strings.TrimSuffix(strings.TrimRight(c.apiURL, "/"), "/api/v2")
	}
	c.cfg = cfg
	for _, w := range cfg.Warnings {
		fmt.Fprintln(c.stderr, "medforge: warning:", w)
	}
	if cfg.Token == "" {
		return nil, withExit(exitUsage, fmt.Errorf("no API token: set MEDFORGE_TOKEN, or write {\"api_url\": ..., \"token\": ...} to %s "+
			"(create a token on the web UI's API tokens page)", client.ConfigPath(os.Getenv)))
	}
	return &client.Client{BaseURL: cfg.APIURL, Token: cfg.Token, UserAgent: "medforge-cli/" + engine.Version,
		HTTP: &http.Client{Timeout: 30 * time.Minute}}, nil
}

// fail turns an API or transport error into the documented exit code and
// prints it: the problem JSON on stdout with --json, a sentence (and the
// field problems) on stderr always.
func (c *competitorCmd) fail(err error) error {
	var ae *client.Error
	var ne *client.NetworkError
	code := exitFailure
	switch {
	case errors.As(err, &ae):
		switch {
		case ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden:
			code = exitAuth
		case ae.Status == http.StatusNotFound:
			code = exitNotFound
		case ae.Status == http.StatusUnprocessableEntity:
			code = exitInvalid
		case ae.Status == http.StatusTooManyRequests:
			code = exitCapReached
		}
		if c.json {
			c.printJSON(map[string]any{"error": ae})
		}
		msg := ae.Detail
		if msg == "" {
			msg = ae.Error()
		}
		switch code {
		case exitAuth:
			if ae.Status == http.StatusUnauthorized {
				msg += " (check MEDFORGE_TOKEN or the token in " + client.ConfigPath(os.Getenv) + "; tokens can be revoked or expire)"
			}
		case exitCapReached:
			if ae.RetryAfter > 0 {
				msg += fmt.Sprintf(" (retry after %s)", ae.RetryAfter.Round(time.Second))
			}
		}
		for i, fe := range ae.Errors {
			if i == 20 {
				msg += fmt.Sprintf("\n  ... and %d more problems", len(ae.Errors)-20)
				break
			}
			msg += "\n  " + fe.Message
		}
		if ae.RequestID != "" && ae.Status >= 500 {
			msg += " (request id " + ae.RequestID + ")"
		}
		return withExit(code, errors.New(msg))
	case errors.As(err, &ne):
		if c.json {
			c.printJSON(map[string]any{"error": map[string]any{"code": "unreachable", "detail": ne.Error()}})
		}
		return withExit(exitUnreachable, fmt.Errorf("%w (server %s; set --api-url or MEDFORGE_API_URL)", ne, c.cfg.APIURL))
	case errors.Is(err, context.Canceled):
		return withExit(exitFailure, errors.New("interrupted"))
	}
	return withExit(code, err)
}

func (c *competitorCmd) printJSON(v any) {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// progressBar draws an upload bar on stderr when stderr is a terminal; it
// returns nil (no bar) otherwise.
func progressBar(w io.Writer, label string) (client.Progress, func()) {
	f, ok := w.(*os.File)
	if !ok || !(isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) {
		return nil, func() {}
	}
	var last time.Time
	drawn := false
	draw := func(sent, total int64) {
		if time.Since(last) < 100*time.Millisecond && sent < total {
			return
		}
		last = time.Now()
		const width = 30
		frac := 1.0
		if total > 0 {
			frac = float64(sent) / float64(total)
		}
		n := int(frac * width)
		fmt.Fprintf(w, "\r%s [%s%s] %3.0f%% %s/%s", label, strings.Repeat("=", n), strings.Repeat(" ", width-n), frac*100, humanize.Bytes(sent), humanize.Bytes(total))
		drawn = true
	}
	return draw, func() {
		if drawn {
			fmt.Fprintln(w)
		}
	}
}

func fmtScore(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.4f", *p)
}

func fmtCI(lo, hi *float64) string {
	if lo == nil || hi == nil {
		return "-"
	}
	return fmt.Sprintf("%.4f-%.4f", *lo, *hi)
}
