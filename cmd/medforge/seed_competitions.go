package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/competitions/bundle"
	"github.com/medforge/medforge/engine/spec"
	"github.com/medforge/medforge/scorers"
)

func init() {
	onSeed("competitions", func(ctx context.Context, env *seedEnv) error {
		dir := builtinScorersDir(env.Config)
		if err := checkBuiltinScorers(dir); err != nil {
			return err
		}
		rt, err := newCompetitions(env.Config, env.Store, env.Logger, false)
		if err != nil {
			return err
		}
		defer rt.Close()
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
		// The fourth, real-data competition is authored through the same
		// flow an author uses (docs/authoring.md), owned by the local admin.
		v := competitions.Viewer{UserID: env.Admin.ID, Admin: true, Author: true}
		state, err := bundle.AuthorBreastCancer(ctx, rt.svc, v)
		if err != nil {
			return fmt.Errorf("competition %s: %w", spec.BreastCancer, err)
		}
		fmt.Fprintf(env.Out, "competition %s: %s (real data, roc-auc, authored and certified)\n", spec.BreastCancer, state)
		return nil
	})
}

// checkBuiltinScorers says exactly what to do when the built-in scorer
// modules the permanent competitions need are not in dir.
func checkBuiltinScorers(dir string) error {
	var missing []string
	var metrics []string
	for _, info := range bundle.Builtins {
		sp, _ := spec.Builtin(info.Slug)
		metrics = append(metrics, sp.Metric)
	}
	metrics = append(metrics, scorers.ROCAUC) // breast-cancer-diagnosis
	for _, m := range metrics {
		if st, err := os.Stat(filepath.Join(dir, m+".wasm")); err != nil || !st.Mode().IsRegular() {
			missing = append(missing, m+".wasm")
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("the built-in scorer modules are not built: %s missing in %s. "+
		"Run `make scorers` (it builds them into bin/scorers, next to bin/medforge), "+
		"or set %s to the folder that holds them", strings.Join(missing, ", "), dir, scorers.DirEnv)
}
