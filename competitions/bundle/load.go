package bundle

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/engine/holdout"
	"github.com/medforge/medforge/engine/spec"
)

// Limits of a bundle's files.
const (
	MaxFileBytes  = 1 << 30
	MaxFiles      = 256
	SampleName    = "sample_submission.csv"
	TrainingDir   = "training"
	PublicDir     = "public"
	ScorerDefault = "scorer.wasm"
	// MaxHoldoutBytes bounds the holdout file.
	MaxHoldoutBytes = 8 << 30
)

// Load reads the bundle in dir. Without a scorer file the module is
// <scorersDir>/<metric>.wasm. Errors name the file or manifest field.
//
// Every file is read from inside dir only: a path with a symbolic link in
// any component, or one that resolves outside dir, is refused (each
// component is checked with Lstat, the file is opened with O_NOFOLLOW
// through an os.Root of dir, and the opened file must be the one checked).
func Load(dir, scorersDir string) (*competitions.Bundle, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", dir, err)
	}
	defer root.Close()
	bfs := bundleFS{root: root}
	data, err := bfs.read(ManifestName, MaxManifestBytes)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: read %s: %w", dir, ManifestName, err)
	}
	m, err := ParseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", dir, err)
	}
	sp := m.Spec()
	h, err := bfs.holdout(m, sp)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", dir, err)
	}
	wasm, scorerName, err := bfs.scorer(m, scorersDir)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", dir, err)
	}
	files, err := bfs.publicFiles()
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", dir, err)
	}
	return &competitions.Bundle{
		Spec: sp, Title: m.Title, Description: m.Description, Exposure: m.Exposure, DailyCap: m.DailyCap,
		Holdout: h, ScorerName: scorerName, ScorerVersion: m.ScorerVersion, Scorer: wasm, Files: files,
		Scoring: m.Scoring(),
	}, nil
}

// holdout reads and parses the manifest's holdout file, or holdout.arrow
// or holdout.csv when it names none.
func (bfs bundleFS) holdout(m Manifest, sp spec.Spec) (*holdout.Holdout, error) {
	hname := m.Holdout
	if hname == "" {
		for _, n := range []string{"holdout.arrow", "holdout.csv"} {
			if _, err := bfs.root.Lstat(n); err == nil {
				hname = n
				break
			}
		}
		if hname == "" {
			return nil, errors.New("no holdout.arrow or holdout.csv (or name one in the manifest's holdout field)")
		}
	}
	hdata, err := bfs.read(hname, MaxHoldoutBytes)
	if err != nil {
		return nil, fmt.Errorf("holdout: %w", err)
	}
	h, err := holdout.Parse(sp, hdata)
	if err != nil {
		return nil, fmt.Errorf("holdout %s: %w", hname, err)
	}
	return h, nil
}

// scorer reads the manifest's scorer module, else the bundle's
// scorer.wasm, else the built-in module of the metric from scorersDir; name
// labels it.
func (bfs bundleFS) scorer(m Manifest, scorersDir string) (wasm []byte, name string, err error) {
	name = m.Metric
	switch _, lerr := bfs.root.Lstat(ScorerDefault); {
	case m.Scorer != "":
		if wasm, err = bfs.read(m.Scorer, competitions.MaxScorerBytes); err != nil {
			return nil, "", fmt.Errorf("scorer: %w", err)
		}
	case lerr == nil:
		if wasm, err = bfs.read(ScorerDefault, competitions.MaxScorerBytes); err != nil {
			return nil, "", fmt.Errorf("scorer: %w", err)
		}
	case scorersDir == "":
		return nil, "", fmt.Errorf("metric %q needs the built-in scorers directory (MEDFORGE_SCORERS_DIR)", m.Metric)
	default:
		if wasm, err = readLimited(filepath.Join(scorersDir, m.Metric+".wasm"), competitions.MaxScorerBytes); err != nil {
			return nil, "", fmt.Errorf("built-in metric %q: %w", m.Metric, err)
		}
	}
	return wasm, name, nil
}

// publicFiles reads training/ and public/ (regular files with safe names
// only, public/sample_submission.csv required), sorted by name.
func (bfs bundleFS) publicFiles() ([]competitions.PublicFile, error) {
	var files []competitions.PublicFile
	for _, sub := range []struct{ dir, kind string }{{TrainingDir, competitions.KindTraining}, {PublicDir, competitions.KindPublicEval}} {
		entries, err := bfs.readDir(sub.dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if !e.Type().IsRegular() {
				return nil, fmt.Errorf("%s/%s is not a regular file", sub.dir, e.Name())
			}
			if !competitions.ValidFileName(e.Name()) {
				return nil, fmt.Errorf("%s/%s: file names must be letters, digits, '.', '_' or '-'", sub.dir, e.Name())
			}
			data, err := bfs.read(sub.dir+"/"+e.Name(), MaxFileBytes)
			if err != nil {
				return nil, err
			}
			kind := sub.kind
			if sub.dir == PublicDir && e.Name() == SampleName {
				kind = competitions.KindSampleSubmission
			}
			files = append(files, competitions.PublicFile{Name: e.Name(), Kind: kind, Data: data})
		}
	}
	if len(files) > MaxFiles {
		return nil, fmt.Errorf("%d public files, at most %d", len(files), MaxFiles)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	hasSample := false
	for _, f := range files {
		hasSample = hasSample || f.Kind == competitions.KindSampleSubmission
	}
	if !hasSample {
		return nil, fmt.Errorf("%s/%s is missing", PublicDir, SampleName)
	}
	return files, nil
}

// bundleFS reads files of one bundle directory without following links.
type bundleFS struct{ root *os.Root }

// check refuses rel unless every component is a plain name and none is a
// symbolic link; it returns the final component's Lstat.
func (b bundleFS) check(rel string) (fs.FileInfo, error) {
	if !filepath.IsLocal(rel) {
		return nil, fmt.Errorf("%s: path leaves the bundle", rel)
	}
	parts := strings.Split(filepath.ToSlash(rel), "/")
	var st fs.FileInfo
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		var err error
		if st, err = b.root.Lstat(p); err != nil {
			return nil, err
		}
		if st.Mode()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("%s is a symbolic link: bundles must hold their files, not links", p)
		}
		if i < len(parts)-1 && !st.IsDir() {
			return nil, fmt.Errorf("%s is not a directory", p)
		}
	}
	return st, nil
}

// read returns the regular file rel, at most limit bytes.
func (b bundleFS) read(rel string, limit int64) ([]byte, error) {
	st, err := b.check(rel)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", rel)
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", rel, limit)
	}
	f, err := b.root.OpenFile(rel, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fst, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !os.SameFile(st, fst) {
		return nil, fmt.Errorf("%s changed while it was read", rel)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", rel, limit)
	}
	return data, nil
}

// readDir lists the directory rel, which must be a real directory.
func (b bundleFS) readDir(rel string) ([]fs.DirEntry, error) {
	st, err := b.check(rel)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", rel)
	}
	f, err := b.root.Open(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	return entries, err
}

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
