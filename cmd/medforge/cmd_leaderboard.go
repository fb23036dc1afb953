package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
)

func init() {
	register(command{
		name:  "leaderboard",
		usage: "show a competition's leaderboard: leaderboard [--limit N] [--json] SLUG",
		run:   runLeaderboard,
	})
}

func runLeaderboard(ctx context.Context, args []string) error {
	c := newCompetitorCmd("leaderboard")
	limit := c.fs.Int("limit", 20, "entries to show, 1-1000")
	c.usage("medforge leaderboard [--limit N] [--json] [--api-url URL] SLUG")
	slug, err := c.parseSlug(args)
	if err != nil {
		return err
	}
	if *limit < 1 || *limit > 1000 {
		return withExit(exitUsage, errors.New("--limit must be from 1 to 1000"))
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	lb, err := cl.Leaderboard(ctx, slug, *limit)
	if err != nil {
		return c.fail(err)
	}
	if c.json {
		c.printJSON(lb)
		return nil
	}
	order := "higher is better"
	if !lb.HigherIsBetter {
		order = "lower is better"
	}
	fmt.Fprintf(c.stdout, "%s: %d competitors (%s)\n", lb.Competition, lb.Total, order)
	if len(lb.Entries) == 0 {
		fmt.Fprintln(c.stdout, "No scored submissions yet.")
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RANK\tCOMPETITOR\tSCORE\t95% INTERVAL\tENTRIES\tLAST (UTC)")
	for _, e := range lb.Entries {
		rank := fmt.Sprint(e.Rank)
		if e.NotSignificant {
			rank += "~"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.4f\t%s\t%d\t%s\n", rank, e.DisplayName, e.Score, fmtCI(e.CILow, e.CIHigh), e.Submissions, e.LastSubmission.UTC().Format("2006-01-02 15:04"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(lb.Entries) < lb.Total {
		fmt.Fprintf(c.stdout, "(%d of %d shown; --limit for more)\n", len(lb.Entries), lb.Total)
	}
	for _, e := range lb.Entries {
		if e.NotSignificant {
			fmt.Fprintln(c.stdout, "~ : not significantly different from the entry above.")
			break
		}
	}
	return nil
}
