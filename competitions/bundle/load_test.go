package bundle

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medforge/medforge/engine/synth"
)

// writeBundle lays out a valid titanic-format bundle in a temp dir; edit
// changes it before Load.
func writeBundle(t *testing.T, edit func(dir string)) string {
	t.Helper()
	dir := t.TempDir()
	f, err := synth.Generate("titanic-survival", 1, 50)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, ManifestName), []byte(good), 0o644))
	must(os.WriteFile(filepath.Join(dir, "holdout.csv"), f.Holdout, 0o644))
	must(os.WriteFile(filepath.Join(dir, "scorer.wasm"), []byte("\x00asm\x01\x00\x00\x00"), 0o644))
	must(os.MkdirAll(filepath.Join(dir, PublicDir), 0o755))
	must(os.MkdirAll(filepath.Join(dir, TrainingDir), 0o755))
	must(os.WriteFile(filepath.Join(dir, PublicDir, SampleName), f.SampleSubmission, 0o644))
	must(os.WriteFile(filepath.Join(dir, PublicDir, "test.csv"), f.Test, 0o644))
	must(os.WriteFile(filepath.Join(dir, TrainingDir, "train.csv"), f.Train, 0o644))
	if edit != nil {
		edit(dir)
	}
	return dir
}

func TestLoad(t *testing.T) {
	b, err := Load(writeBundle(t, nil), "")
	if err != nil {
		t.Fatal(err)
	}
	if b.Holdout.Units() != 50 || len(b.Files) != 3 || b.Spec.Slug != "titanic-survival" || len(b.Scorer) == 0 {
		t.Fatalf("bundle %+v", b)
	}
	tests := []struct {
		name string
		edit func(dir string)
		want string
	}{
		{"no manifest", func(d string) { os.Remove(filepath.Join(d, ManifestName)) }, ManifestName},
		{"bad manifest", func(d string) { os.WriteFile(filepath.Join(d, ManifestName), []byte(`{"slug":1}`), 0o644) }, "slug"},
		{"no holdout", func(d string) { os.Remove(filepath.Join(d, "holdout.csv")) }, "holdout"},
		{"holdout of the wrong format", func(d string) {
			os.WriteFile(filepath.Join(d, "holdout.csv"), []byte("a,b\n1,2\n"), 0o644)
		}, "holdout"},
		{"no sample submission", func(d string) { os.Remove(filepath.Join(d, PublicDir, SampleName)) }, SampleName},
		{"unsafe file name", func(d string) { os.WriteFile(filepath.Join(d, PublicDir, ".hidden"), []byte("x"), 0o644) }, ".hidden"},
		{"symlink to the holdout", func(d string) {
			os.Symlink(filepath.Join(d, "holdout.csv"), filepath.Join(d, PublicDir, "leak.csv"))
		}, "leak.csv"},
		{"training folder links to another competition's holdouts", func(d string) {
			other := t.TempDir()
			os.WriteFile(filepath.Join(other, "secret.csv"), []byte("PassengerId,Survived\n1,1\n"), 0o644)
			os.RemoveAll(filepath.Join(d, TrainingDir))
			os.Symlink(other, filepath.Join(d, TrainingDir))
		}, "training is a symbolic link"},
		{"public folder links inside the bundle", func(d string) {
			os.Rename(filepath.Join(d, PublicDir), filepath.Join(d, "real"))
			os.Symlink("real", filepath.Join(d, PublicDir))
		}, "public is a symbolic link"},
		{"holdout is a link", func(d string) {
			os.Rename(filepath.Join(d, "holdout.csv"), filepath.Join(d, "h.csv"))
			os.Symlink("h.csv", filepath.Join(d, "holdout.csv"))
		}, "holdout.csv is a symbolic link"},
		{"scorer is a link outside", func(d string) {
			os.Remove(filepath.Join(d, "scorer.wasm"))
			os.Symlink("/etc/passwd", filepath.Join(d, "scorer.wasm"))
		}, "scorer.wasm is a symbolic link"},
		{"manifest is a link", func(d string) {
			os.Rename(filepath.Join(d, ManifestName), filepath.Join(d, "m.json"))
			os.Symlink("m.json", filepath.Join(d, ManifestName))
		}, "competition.json is a symbolic link"},
		{"no built-in scorer dir", func(d string) { os.Remove(filepath.Join(d, "scorer.wasm")) }, "scorers directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeBundle(t, tc.edit), "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
}
