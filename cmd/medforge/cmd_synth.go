package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/medforge/medforge/engine/spec"
	"github.com/medforge/medforge/engine/synth"
)

func init() {
	register(command{
		name:  "synth",
		usage: "write a synthetic data set: --competition SLUG --n ROWS [--seed N] [--noise P] [--shuffle] --out DIR",
		run:   runSynth,
	})
}

// runSynth writes holdout.csv, train.csv, test.csv, sample_submission.csv
// and submission.csv (a perturbed submission) for a built-in competition.
func runSynth(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("synth", flag.ContinueOnError)
	slug := fs.String("competition", "", "built-in competition slug ("+fmt.Sprint(spec.BuiltinSlugs())+")")
	n := fs.Int("n", 418, "test-set units")
	seed := fs.Uint64("seed", 1, "random seed")
	noise := fs.Float64("noise", 0.2, "chance of a wrong prediction in submission.csv")
	shuffle := fs.Bool("shuffle", false, "shuffle the rows of submission.csv")
	out := fs.String("out", "", "output folder (created)")
	if err := fs.Parse(args); err != nil {
		return withExit(2, errors.New(""))
	}
	if *slug == "" || *out == "" {
		return withExit(2, errors.New("--competition and --out are required"))
	}
	f, err := synth.Generate(*slug, *seed, *n)
	if err != nil {
		return withExit(2, err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	files := map[string][]byte{
		"holdout.csv":           f.Holdout,
		"train.csv":             f.Train,
		"test.csv":              f.Test,
		"sample_submission.csv": f.SampleSubmission,
		"submission.csv":        f.Submission(*seed+1, synth.SubmissionOptions{Noise: *noise, Shuffle: *shuffle}),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(*out, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
