package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/medforge/medforge/client"
	"github.com/medforge/medforge/internal/humanize"
)

func init() {
	register(command{
		name:  "submit",
		usage: "submit a predictions CSV: submit --competition SLUG [--wait] [--json] FILE",
		run:   runSubmit,
	})
}

func runSubmit(ctx context.Context, args []string) error {
	c := newCompetitorCmd("submit")
	slug := c.fs.String("competition", "", "competition slug (required), e.g. titanic-survival")
	c.fs.StringVar(slug, "c", "", "shorthand for --competition")
	wait := c.fs.Bool("wait", false, "wait until the submission is scored and print its score")
	timeout := c.fs.Duration("wait-timeout", 10*time.Minute, "give up waiting after this long (with --wait)")
	c.usage("medforge submit --competition SLUG [--wait] [--json] [--api-url URL] FILE")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if *slug == "" || len(pos) != 1 {
		c.fs.Usage()
		return withExit(exitUsage, errors.New("need --competition SLUG and exactly one FILE"))
	}
	file := pos[0]
	st, err := os.Stat(file)
	if err != nil {
		return withExit(exitUsage, fmt.Errorf("cannot read %s: %w", file, err))
	}
	if st.IsDir() {
		return withExit(exitUsage, fmt.Errorf("%s is a directory, not a CSV file", file))
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	bar, done := progressBar(c.stderr, "uploading "+filepath.Base(file))
	res, err := cl.Submit(ctx, *slug, file, bar)
	done()
	if err != nil {
		return c.fail(err)
	}
	sub := res.Submission
	if !c.json {
		fmt.Fprintf(c.stdout, "Submitted %s to %s as #%d (%d rows, %s); %d of %d submissions left today.\n",
			sub.Filename, *slug, sub.ID, sub.RowCount, humanize.Bytes(sub.SizeBytes), res.RemainingToday, res.DailyCap)
	}
	if *wait {
		wctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		if !c.json {
			fmt.Fprintf(c.stderr, "waiting for scoring...\n")
		}
		sub, err = cl.WaitScored(wctx, sub.ID, time.Second)
		if errors.Is(err, context.DeadlineExceeded) {
			return withExit(exitFailure, fmt.Errorf("submission #%d is still %s after %s; check later with: medforge submissions %s", sub.ID, sub.Status, *timeout, *slug))
		}
		if err != nil {
			return c.fail(err)
		}
		res.Submission = sub
	}
	if c.json {
		c.printJSON(res)
	} else {
		printSubmissionState(c, sub, *slug)
	}
	if sub.Status == "failed" {
		return withExit(exitScoreFailed, fmt.Errorf("scoring of submission #%d failed: %s", sub.ID, sub.Error))
	}
	return nil
}

func printSubmissionState(c *competitorCmd, s client.Submission, slug string) {
	switch s.Status {
	case "scored":
		fmt.Fprintf(c.stdout, "Scored: %s (95%% interval %s).\n", fmtScore(s.PrimaryScore), fmtCI(s.CILow, s.CIHigh))
	case "failed":
		fmt.Fprintf(c.stdout, "Scoring failed: %s\n", s.Error)
	default:
		fmt.Fprintf(c.stdout, "Status: %s. Follow it with: medforge submissions %s\n", s.Status, slug)
	}
}
