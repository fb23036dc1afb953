package main

import (
	"context"
	"fmt"
	"text/tabwriter"
)

func init() {
	register(command{
		name:  "submissions",
		usage: "list your submissions to a competition: submissions [--json] SLUG",
		run:   runSubmissions,
	})
}

func runSubmissions(ctx context.Context, args []string) error {
	c := newCompetitorCmd("submissions")
	c.usage("medforge submissions [--json] [--api-url URL] SLUG")
	slug, err := c.parseSlug(args)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	mine, err := cl.MySubmissions(ctx, slug)
	if err != nil {
		return c.fail(err)
	}
	if c.json {
		c.printJSON(mine)
		return nil
	}
	fmt.Fprintf(c.stdout, "%d of %d submissions left today (the cap resets at 00:00 UTC).\n", mine.RemainingToday, mine.DailyCap)
	if len(mine.Submissions) == 0 {
		fmt.Fprintln(c.stdout, "No submissions yet.")
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tFILE\tSUBMITTED (UTC)\tSTATUS\tSCORE\t95% INTERVAL")
	for _, s := range mine.Submissions {
		status := s.Status
		if s.Rescoring {
			status += " (rescoring)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Filename, s.CreatedAt.UTC().Format("2006-01-02 15:04"), status, fmtScore(s.PrimaryScore), fmtCI(s.CILow, s.CIHigh))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range mine.Submissions {
		if s.Error != "" {
			fmt.Fprintf(c.stdout, "#%d: %s\n", s.ID, s.Error)
		}
	}
	return nil
}
