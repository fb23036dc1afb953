package bundle

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/engine/holdout"
	"github.com/medforge/medforge/engine/spec"
	"github.com/medforge/medforge/engine/synth"
)

// Seed is the synthetic data seed of the built-in competitions; changing it
// changes every holdout digest (and so triggers rescoring).
const Seed = 20260217

// BuiltinInfo describes one permanent competition.
type BuiltinInfo struct {
	Slug     string
	Title    string
	Units    int
	DailyCap int
	About    string
}

// Builtins are the three permanent EXTERNAL competitions, in the real
// formats and sizes of their public originals.
var Builtins = []BuiltinInfo{
	{spec.Titanic, "Titanic: survival prediction", 418, 20,
		"Predict which passengers survived (Survived = 0 or 1) from class, sex, age, fare and family aboard. Scored by accuracy."},
	{spec.RSNA, "RSNA pneumonia detection", 3000, 10,
		"Locate lung opacities in chest radiographs: for each patientId submit a PredictionString of \"confidence x y width height\" boxes. Scored by mean average precision over IoU thresholds 0.4-0.75."},
	{spec.CIFAR, "CIFAR-100 image classification", 10000, 20,
		"Classify 32x32 images into 100 classes (label 0-99). Scored by top-1 accuracy."},
}

// synthNote is appended to every built-in description.
const synthNote = "\n\nThe data here is SYNTHETIC: generated deterministically by MedForge in the real competition's file formats and sizes, not the original images or records. Real data in the same formats imports the same way (medforge competition import)."

// Builtin builds the bundle of a built-in competition from synthetic data
// and the built-in scorer module in scorersDir. The result is the same on
// every call.
func Builtin(slug, scorersDir string) (*competitions.Bundle, error) {
	var info *BuiltinInfo
	for i := range Builtins {
		if Builtins[i].Slug == slug {
			info = &Builtins[i]
		}
	}
	sp, ok := spec.Builtin(slug)
	if info == nil || !ok {
		return nil, fmt.Errorf("bundle: no built-in competition %q", slug)
	}
	return Synthetic(sp, info.Title, info.About+synthNote, info.Units, info.DailyCap, scorersDir)
}

// Synthetic builds a bundle for sp (whose columns must be those of a
// built-in spec of the same metric) with n synthetic units. Tests use it
// with their own slugs.
func Synthetic(sp spec.Spec, title, about string, n, dailyCap int, scorersDir string) (*competitions.Bundle, error) {
	gen := ""
	for _, b := range spec.BuiltinSlugs() {
		if bs, _ := spec.Builtin(b); bs.Metric == sp.Metric {
			gen = b
		}
	}
	if gen == "" {
		return nil, fmt.Errorf("bundle: no synthetic generator for metric %q", sp.Metric)
	}
	f, err := synth.Generate(gen, Seed, n)
	if err != nil {
		return nil, err
	}
	h, err := holdout.ImportCSV(sp, f.Holdout)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: synthetic holdout: %w", sp.Slug, err)
	}
	wasm, err := os.ReadFile(filepath.Join(scorersDir, sp.Metric+".wasm"))
	if err != nil {
		return nil, fmt.Errorf("bundle %s: built-in scorer %s (run make scorers or set MEDFORGE_SCORERS_DIR): %w", sp.Slug, sp.Metric, err)
	}
	return &competitions.Bundle{
		Spec: sp, Title: title, Description: about, Exposure: "EXTERNAL", DailyCap: dailyCap, Holdout: h,
		ScorerName: sp.Metric, ScorerVersion: "builtin", Scorer: wasm,
		Files: []competitions.PublicFile{
			{Name: "train.csv", Kind: competitions.KindTraining, Data: f.Train},
			{Name: "test.csv", Kind: competitions.KindPublicEval, Data: f.Test},
			{Name: SampleName, Kind: competitions.KindSampleSubmission, Data: f.SampleSubmission},
		},
	}, nil
}
