package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/medforge/medforge/client"
)

func init() {
	register(command{
		name:  "leaderboard",
		usage: "show a competition's leaderboard: leaderboard [--board public|private] [--limit N] [--json] SLUG",
		run:   runLeaderboard,
	})
}

func runLeaderboard(ctx context.Context, args []string) error {
	c := newCompetitorCmd("leaderboard")
	limit := c.fs.Int("limit", 20, "entries to show, 1-1000")
	board := c.fs.String("board", "public", "public, or private (after the reveal; before it only for the owner and admins)")
	c.usage("medforge leaderboard [--board public|private] [--limit N] [--json] [--api-url URL] SLUG")
	slug, err := c.parseSlug(args)
	if err != nil {
		return err
	}
	if *limit < 1 || *limit > 1000 {
		return withExit(exitUsage, errors.New("--limit must be from 1 to 1000"))
	}
	if *board != "public" && *board != "private" {
		return withExit(exitUsage, errors.New("--board must be public or private"))
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	lb, err := cl.Board(ctx, slug, *board, *limit)
	if err != nil {
		return c.fail(err)
	}
	if c.json {
		c.printJSON(lb)
		return nil
	}
	printBoard(c.stdout, lb)
	return nil
}

// printBoard writes a board as a table: rank with its 95% interval, score
// with its interval, the paired difference from the leader with its
// interval and p-value, and "=" for the entries tied with #1.
func printBoard(w io.Writer, lb client.Leaderboard) {
	order := "higher is better"
	if !lb.HigherIsBetter {
		order = "lower is better"
	}
	name := lb.Competition
	if lb.Board == "private" {
		name += " (private board)"
	}
	fmt.Fprintf(w, "%s: %d competitors (%s)\n", name, lb.Total, order)
	if len(lb.Entries) == 0 {
		fmt.Fprintln(w, "No scored submissions yet.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RANK\tRANK 95%\tCOMPETITOR\tSCORE\t95% INTERVAL\tVS #1 (95%)\tP\tENTRIES\tLAST (UTC)")
	tied := false
	for _, e := range lb.Entries {
		rank := fmt.Sprint(e.Rank)
		if e.TiedWithLeader != nil && *e.TiedWithLeader {
			rank += "="
			tied = true
		}
		ranks, vs, p := "-", "-", "-"
		if e.RankLow != nil && e.RankHigh != nil {
			ranks = fmt.Sprintf("%d-%d", *e.RankLow, *e.RankHigh)
		}
		if e.DiffVsLeader != nil && e.DiffLow != nil && e.DiffHigh != nil && e.Rank > 1 {
			vs = fmt.Sprintf("%+.4f (%+.4f, %+.4f)", *e.DiffVsLeader, *e.DiffLow, *e.DiffHigh)
		}
		if e.PValueVsLeader != nil && e.Rank > 1 {
			p = fmt.Sprintf("%.3f", *e.PValueVsLeader)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.4f\t%s\t%s\t%s\t%d\t%s\n", rank, ranks, e.DisplayName, e.Score, fmtCI(e.CILow, e.CIHigh),
			vs, p, e.Submissions, e.LastSubmission.UTC().Format("2006-01-02 15:04"))
	}
	tw.Flush()
	if len(lb.Entries) < lb.Total {
		fmt.Fprintf(w, "(%d of %d shown; --limit for more)\n", len(lb.Entries), lb.Total)
	}
	switch {
	case !lb.Significance.Available && lb.Significance.Note != "":
		fmt.Fprintf(w, "Significance unavailable: %s.\n", lb.Significance.Note)
	case lb.Significance.Available:
		if tied {
			fmt.Fprintln(w, "= : tied with #1 (the paired bootstrap difference from the leader is not significant at 5%).")
		}
		if lb.Significance.Note != "" {
			fmt.Fprintf(w, "Note: %s.\n", lb.Significance.Note)
		}
	}
}
