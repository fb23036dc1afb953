package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/medforge/medforge/engine"
	"github.com/medforge/medforge/engine/holdout"
	"github.com/medforge/medforge/engine/spec"
)

func init() {
	register(command{
		name:  "holdout",
		usage: "holdout import --competition SLUG in.csv out.arrow: convert a label CSV to an Arrow holdout",
		run:   runHoldout,
	})
}

// runHoldout is `medforge holdout import`. It prints {"units", "digest"}
// on success; an invalid CSV exits 2 with its problems on stderr.
func runHoldout(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "import" {
		return withExit(2, errors.New("usage: medforge holdout import --competition SLUG in.csv out.arrow"))
	}
	fs := flag.NewFlagSet("holdout import", flag.ContinueOnError)
	slug := fs.String("competition", "", "built-in competition slug ("+fmt.Sprint(spec.Slugs())+")")
	if err := fs.Parse(args[1:]); err != nil {
		return withExit(2, errors.New(""))
	}
	if *slug == "" || fs.NArg() != 2 {
		return withExit(2, errors.New("usage: medforge holdout import --competition SLUG in.csv out.arrow"))
	}
	sp, ok := spec.Builtin(*slug)
	if !ok {
		return withExit(2, fmt.Errorf("unknown competition %q (built-in: %v)", *slug, spec.Slugs()))
	}
	in, out := fs.Arg(0), fs.Arg(1)
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	h, err := holdout.ImportCSV(sp, data)
	if err != nil {
		if ie, ok := engine.InvalidSubmission(err); ok {
			fmt.Fprint(os.Stderr, ie.Lines())
			return withExit(2, fmt.Errorf("invalid holdout %s", in))
		}
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".holdout-*.arrow")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := h.WriteArrow(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"competition": sp.Slug, "units": h.Units(), "digest": h.Digest(), "path": out})
}
