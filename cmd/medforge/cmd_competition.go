package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/competitions/bundle"
)

func init() {
	register(command{
		name:  "competition",
		usage: "competition import DIR | rescore SLUG: manage competitions from the host",
		run:   runCompetition,
	})
}

func runCompetition(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return withExit(2, errors.New("usage: medforge competition import DIR | rescore [-reason TEXT] SLUG"))
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("competition "+sub, flag.ContinueOnError)
	reason := fs.String("reason", "host command", "rescore: reason recorded in the audit log")
	cfg, rest, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return withExit(2, fmt.Errorf("competition %s needs exactly one argument", sub))
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	log := newLogger(cfg)
	st, err := openStore(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer st.DB().Close()
	rt, err := newCompetitions(cfg, st, log, false)
	if err != nil {
		return err
	}
	defer rt.Close()
	var out any
	switch sub {
	case "import":
		b, err := bundle.Load(rest[0], builtinScorersDir(cfg))
		if err != nil {
			return withExit(2, err)
		}
		res, err := rt.svc.Install(ctx, 0, b)
		var re *competitions.ScorerRejectedError
		if errors.As(err, &re) {
			_ = json.NewEncoder(os.Stderr).Encode(re.Report)
			return withExit(2, err)
		}
		if err != nil {
			return err
		}
		out = res
	case "rescore":
		job, err := rt.svc.RescoreCompetition(ctx, 0, rest[0], *reason)
		if err != nil {
			return err
		}
		out = job
	default:
		return withExit(2, fmt.Errorf("unknown competition command %q (import, rescore)", sub))
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
