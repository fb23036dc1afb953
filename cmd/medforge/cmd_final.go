package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

func init() {
	register(command{
		name:  "final",
		usage: "mark a submission final for the private board: final [--unset] [--json] SLUG SUBMISSION_ID",
		run:   runFinal,
	})
}

// runFinal marks (or with --unset unmarks) one of the caller's submissions
// as final in a public_private competition. Without any final, the
// private board uses the caller's best public submissions.
func runFinal(ctx context.Context, args []string) error {
	c := newCompetitorCmd("final")
	unset := c.fs.Bool("unset", false, "unmark the submission instead")
	c.usage("medforge final [--unset] [--json] [--api-url URL] SLUG SUBMISSION_ID")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		c.fs.Usage()
		return withExit(exitUsage, errors.New("need a competition SLUG and a SUBMISSION_ID"))
	}
	id, err := strconv.ParseInt(pos[1], 10, 64)
	if err != nil || id <= 0 {
		return withExit(exitUsage, fmt.Errorf("SUBMISSION_ID must be a positive integer, got %q", pos[1]))
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	sub, err := cl.SetFinal(ctx, pos[0], id, !*unset)
	if err != nil {
		return c.fail(err)
	}
	if c.json {
		c.printJSON(sub)
		return nil
	}
	if sub.IsFinal {
		fmt.Fprintf(c.stdout, "Submission %d is final for %s's private board.\n", sub.ID, pos[0])
	} else {
		fmt.Fprintf(c.stdout, "Submission %d is no longer final.\n", sub.ID)
	}
	return nil
}
