package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/medforge/medforge/client"
)

// exitNotCertified: author report or publish found failed certification
// checks (docs/cli.md).
const exitNotCertified = 9

func init() {
	register(command{
		name:  "author",
		usage: "competition authors: author create DRAFT.json | upload --competition SLUG --kind KIND FILE | scorer --competition SLUG FILE.wasm | report --competition SLUG | publish --competition SLUG",
		run:   runAuthor,
	})
}

const authorUsage = `usage:
  medforge author create  [--json] DRAFT.json
  medforge author upload  --competition SLUG --kind training|public_eval|sample_submission|holdout [--json] FILE
  medforge author scorer  --competition SLUG [--name N] [--version V] [--json] FILE.wasm
  medforge author report  --competition SLUG [--json]
  medforge author publish --competition SLUG [--json]
They use the competitor commands' token and config (MEDFORGE_TOKEN, MEDFORGE_API_URL
or the config file) and need the can_author entitlement. See docs/authoring.md.`

func runAuthor(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, authorUsage)
		return withExit(exitUsage, errors.New("want a subcommand: create, upload, scorer, report or publish"))
	}
	sub, args := args[0], args[1:]
	c := newCompetitorCmd("author " + sub)
	c.fs.Usage = func() { fmt.Fprintln(c.stderr, authorUsage); c.fs.PrintDefaults() }
	slug := c.fs.String("competition", "", "competition slug")
	c.fs.StringVar(slug, "c", "", "shorthand for --competition")
	kind := c.fs.String("kind", "", "upload: training, public_eval, sample_submission or holdout")
	name := c.fs.String("name", "", "scorer: module name (default: the file name)")
	version := c.fs.String("version", "", "scorer: module version (default 1)")
	switch sub {
	case "create", "upload", "scorer", "report", "publish":
	default:
		fmt.Fprintln(os.Stderr, authorUsage)
		return withExit(exitUsage, fmt.Errorf("unknown subcommand %q", sub))
	}
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	wantFile := sub == "create" || sub == "upload" || sub == "scorer"
	switch {
	case wantFile && len(pos) != 1:
		c.fs.Usage()
		return withExit(exitUsage, errors.New("need exactly one FILE"))
	case !wantFile && len(pos) != 0:
		c.fs.Usage()
		return withExit(exitUsage, fmt.Errorf("unexpected arguments %q", pos))
	case sub != "create" && *slug == "":
		c.fs.Usage()
		return withExit(exitUsage, errors.New("need --competition SLUG"))
	case sub == "upload" && !map[string]bool{"training": true, "public_eval": true, "sample_submission": true, "holdout": true}[*kind]:
		c.fs.Usage()
		return withExit(exitUsage, errors.New("need --kind training, public_eval, sample_submission or holdout"))
	}
	if wantFile {
		if st, err := os.Stat(pos[0]); err != nil {
			return withExit(exitUsage, fmt.Errorf("cannot read %s: %w", pos[0], err))
		} else if st.IsDir() {
			return withExit(exitUsage, fmt.Errorf("%s is a directory", pos[0]))
		}
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	// Reports on large holdouts take a while; the client's timeout is 30 min.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	switch sub {
	case "create":
		return authorCreate(ctx, c, cl, pos[0])
	case "upload", "scorer":
		return authorUpload(ctx, c, cl, sub, *slug, *kind, *name, *version, pos[0])
	case "report":
		return authorReport(ctx, c, cl, *slug)
	default:
		return authorPublish(ctx, c, cl, *slug)
	}
}

// authorCreate creates a draft from the JSON file at path.
func authorCreate(ctx context.Context, c *competitorCmd, cl *client.Client, path string) error {
	draft, err := os.ReadFile(path)
	if err != nil {
		return withExit(exitUsage, err)
	}
	if !json.Valid(draft) {
		return withExit(exitUsage, fmt.Errorf("%s is not JSON (see docs/authoring.md for the draft's fields)", path))
	}
	ac, err := cl.CreateCompetition(ctx, draft)
	if err != nil {
		return c.fail(err)
	}
	if c.json {
		c.printJSON(ac)
	} else {
		fmt.Fprintf(c.stdout, "Created draft %s (%q), visible only to you and admins until published.\n", ac.Slug, ac.Title)
	}
	return nil
}

// authorUpload uploads a public file or the holdout (sub "upload", with
// kind) or a scorer module (sub "scorer") with a progress bar.
func authorUpload(ctx context.Context, c *competitorCmd, cl *client.Client, sub, slug, kind, name, version, path string) error {
	bar, done := progressBar(c.stderr, "uploading "+filepath.Base(path))
	var out map[string]any
	var err error
	if sub == "upload" {
		err = cl.AuthorUpload(ctx, slug, kind, path, bar, &out)
	} else {
		err = cl.AuthorScorer(ctx, slug, path, name, version, bar, &out)
	}
	done()
	if err != nil {
		return c.fail(err)
	}
	if c.json {
		c.printJSON(out)
		return nil
	}
	switch {
	case sub == "scorer":
		fmt.Fprintf(c.stdout, "Scorer %v (%v) is current for %s; run: medforge author report --competition %s\n", out["name"], out["digest"], slug, slug)
	case kind == "holdout":
		fmt.Fprintf(c.stdout, "Holdout version %v of %s: %v rows, digest %v (stored as Arrow; never served back).\n", out["version"], slug, out["rows"], out["digest"])
	default:
		fmt.Fprintf(c.stdout, "Uploaded %s file %v to %s (sha256 %v).\n", kind, out["name"], slug, out["sha256"])
	}
	if rs, ok := out["rescore"].(map[string]any); ok {
		fmt.Fprintf(c.stdout, "Rescoring %v submissions (job %v).\n", rs["total"], rs["id"])
	}
	return nil
}

// authorReport prints the certification report; a failed check is exit
// exitNotCertified.
func authorReport(ctx context.Context, c *competitorCmd, cl *client.Client, slug string) error {
	if !c.json {
		fmt.Fprintf(c.stderr, "certifying %s (the first report of a new scorer or holdout takes a while)...\n", slug)
	}
	rep, err := cl.Report(ctx, slug)
	if err != nil {
		return c.fail(err)
	}
	if c.json {
		_, _ = c.stdout.Write(append(rep.Raw, '\n'))
	} else {
		printChecks(c, rep.Checks)
	}
	if !rep.OK {
		return withExit(exitNotCertified, errors.New("not certified: "+failedNames(rep.Checks)))
	}
	if !c.json {
		fmt.Fprintf(c.stdout, "Certified. Publish with: medforge author publish --competition %s\n", slug)
	}
	return nil
}

// authorPublish publishes the draft; not certified is exit
// exitNotCertified with the failed checks.
func authorPublish(ctx context.Context, c *competitorCmd, cl *client.Client, slug string) error {
	ac, err := cl.Publish(ctx, slug)
	var ae *client.Error
	if errors.As(err, &ae) && ae.Code == "not_certified" {
		if c.json {
			c.printJSON(map[string]any{"error": ae})
		}
		msg := ae.Detail
		for _, fe := range ae.Errors {
			msg += "\n  " + fe.Field + ": " + fe.Message
		}
		return withExit(exitNotCertified, errors.New(msg))
	}
	if err != nil {
		return c.fail(err)
	}
	if c.json {
		c.printJSON(ac)
	} else {
		fmt.Fprintf(c.stdout, "Published %s: it is visible and open for submissions.\n", ac.Slug)
	}
	return nil
}

func printChecks(c *competitorCmd, checks []client.CertCheck) {
	for _, ch := range checks {
		mark := "PASS"
		if !ch.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(c.stdout, "%s  %-12s %s\n", mark, ch.Name, ch.Detail)
	}
}

func failedNames(checks []client.CertCheck) string {
	var out []string
	for _, ch := range checks {
		if !ch.OK {
			out = append(out, ch.Name)
		}
	}
	return strings.Join(out, ", ")
}
