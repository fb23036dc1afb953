package bundle

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/engine/holdout"
)

// Limits of a bundle's files.
const (
	MaxFileBytes  = 1 << 30
	MaxFiles      = 256
	SampleName    = "sample_submission.csv"
	TrainingDir   = "training"
	PublicDir     = "public"
	ScorerDefault = "scorer.wasm"
)

// Load reads the bundle in dir. Without a scorer file the module is
// <scorersDir>/<metric>.wasm. Errors name the file or manifest field.
func Load(dir, scorersDir string) (*competitions.Bundle, error) {
	data, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return nil, fmt.Errorf("bundle %s: read %s: %w", dir, ManifestName, err)
	}
	m, err := ParseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", dir, err)
	}
	sp := m.Spec()
	// Holdout.
	hname := m.Holdout
	if hname == "" {
		for _, n := range []string{"holdout.arrow", "holdout.csv"} {
			if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
				hname = n
				break
			}
		}
		if hname == "" {
			return nil, fmt.Errorf("bundle %s: no holdout.arrow or holdout.csv (or name one in the manifest's holdout field)", dir)
		}
	}
	h, err := holdout.ReadFile(sp, filepath.Join(dir, hname))
	if err != nil {
		return nil, fmt.Errorf("bundle %s: holdout %s: %w", dir, hname, err)
	}
	// Scorer.
	var wasm []byte
	scorerName := m.Metric
	if m.Scorer != "" {
		wasm, err = readLimited(filepath.Join(dir, m.Scorer), competitions.MaxScorerBytes)
		if err != nil {
			return nil, fmt.Errorf("bundle %s: scorer: %w", dir, err)
		}
	} else if p := filepath.Join(dir, ScorerDefault); exists(p) {
		if wasm, err = readLimited(p, competitions.MaxScorerBytes); err != nil {
			return nil, fmt.Errorf("bundle %s: scorer: %w", dir, err)
		}
	} else {
		if scorersDir == "" {
			return nil, fmt.Errorf("bundle %s: metric %q needs the built-in scorers directory (MEDFORGE_SCORERS_DIR)", dir, m.Metric)
		}
		wasm, err = readLimited(filepath.Join(scorersDir, m.Metric+".wasm"), competitions.MaxScorerBytes)
		if err != nil {
			return nil, fmt.Errorf("bundle %s: built-in metric %q: %w", dir, m.Metric, err)
		}
		scorerName = m.Metric
	}
	// Public files.
	var files []competitions.PublicFile
	for _, sub := range []struct{ dir, kind string }{{TrainingDir, competitions.KindTraining}, {PublicDir, competitions.KindPublicEval}} {
		entries, err := os.ReadDir(filepath.Join(dir, sub.dir))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("bundle %s: %w", dir, err)
		}
		for _, e := range entries {
			if !e.Type().IsRegular() {
				return nil, fmt.Errorf("bundle %s: %s/%s is not a regular file", dir, sub.dir, e.Name())
			}
			if !competitions.ValidFileName(e.Name()) {
				return nil, fmt.Errorf("bundle %s: %s/%s: file names must be letters, digits, '.', '_' or '-'", dir, sub.dir, e.Name())
			}
			data, err := readLimited(filepath.Join(dir, sub.dir, e.Name()), MaxFileBytes)
			if err != nil {
				return nil, fmt.Errorf("bundle %s: %w", dir, err)
			}
			kind := sub.kind
			if sub.dir == PublicDir && e.Name() == SampleName {
				kind = competitions.KindSampleSubmission
			}
			files = append(files, competitions.PublicFile{Name: e.Name(), Kind: kind, Data: data})
		}
	}
	if len(files) > MaxFiles {
		return nil, fmt.Errorf("bundle %s: %d public files, at most %d", dir, len(files), MaxFiles)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	hasSample := false
	for _, f := range files {
		hasSample = hasSample || f.Kind == competitions.KindSampleSubmission
	}
	if !hasSample {
		return nil, fmt.Errorf("bundle %s: %s/%s is missing", dir, PublicDir, SampleName)
	}
	return &competitions.Bundle{
		Spec: sp, Title: m.Title, Description: m.Description, Exposure: m.Exposure, DailyCap: m.DailyCap,
		Holdout: h, ScorerName: scorerName, ScorerVersion: m.ScorerVersion, Scorer: wasm, Files: files,
		Scoring: m.Scoring(),
	}, nil
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func readLimited(p string, limit int64) ([]byte, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", filepath.Base(p))
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", filepath.Base(p), limit)
	}
	return os.ReadFile(p)
}
