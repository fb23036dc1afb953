package main

import (
	"context"
	"fmt"

	"github.com/medforge/medforge/competitions/bundle"
)

func init() {
	onSeed("competitions", func(ctx context.Context, env *seedEnv) error {
		rt, err := newCompetitions(env.Config, env.Store, env.Logger)
		if err != nil {
			return err
		}
		defer rt.Close()
		dir := builtinScorersDir(env.Config)
		for _, info := range bundle.Builtins {
			b, err := bundle.Builtin(info.Slug, dir)
			if err != nil {
				return err
			}
			res, err := rt.svc.Install(ctx, env.Admin.ID, b)
			if err != nil {
				return fmt.Errorf("competition %s: %w", info.Slug, err)
			}
			state := "unchanged"
			switch {
			case res.Created:
				state = "created"
			case res.HoldoutChanged || res.ScorerChanged:
				state = "updated (rescoring queued)"
			}
			fmt.Fprintf(env.Out, "competition %s: %s (%d holdout rows, cap %d/day)\n", info.Slug, state, info.Units, info.DailyCap)
		}
		return nil
	})
}
