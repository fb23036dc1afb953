package bundle

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/engine/spec"
)

// breastCancerCSV is sklearn/datasets/data/breast_cancer.csv as Debian's
// python3-sklearn 1.2.1 ships it: a count line (569,30,malignant,benign),
// then 569 rows of 30 features and the target (0 malignant, 1 benign).
//
//go:embed data/breast_cancer.csv
var breastCancerCSV []byte

// BreastCancerFeatures are the 30 feature columns, in the file's order
// (sklearn's feature_names, snake_cased).
var BreastCancerFeatures = func() []string {
	var out []string
	for _, kind := range []string{"mean", "error", "worst"} {
		for _, f := range []string{"radius", "texture", "perimeter", "area", "smoothness", "compactness",
			"concavity", "concave_points", "symmetry", "fractal_dimension"} {
			if kind == "error" {
				out = append(out, f+"_error")
			} else {
				out = append(out, kind+"_"+f)
			}
		}
	}
	return out
}()

// BreastCancerTestShare is the share of cases held out for scoring.
const BreastCancerTestShare = 0.3

// BreastCancerDraft is the competition's contract: slug
// breast-cancer-diagnosis, submission id,malignant (a probability),
// holdout id,malignant (0 or 1), metric roc-auc, higher is better.
func BreastCancerDraft() competitions.Draft {
	sp, _ := spec.Builtin(spec.BreastCancer)
	return competitions.Draft{
		Slug: sp.Slug, Title: "Breast cancer diagnosis (Wisconsin, real data)", Description: breastCancerAbout,
		Metric: sp.Metric, Direction: "maximize", DailyCap: 20, IDColumn: sp.ID, Columns: sp.Columns, Layout: string(sp.Layout),
	}
}

const breastCancerAbout = `**Real data.** Predict, for each case, the probability that a breast mass is **malignant** from 30 features computed from a digitized image of a fine needle aspirate (the mean, standard error and worst value of ten cell-nucleus measurements: radius, texture, perimeter, area, smoothness, compactness, concavity, concave points, symmetry, fractal dimension).

- ` + "`train.csv`" + `: id, the 30 features and malignant (1 malignant, 0 benign).
- ` + "`test.csv`" + `: id and the 30 features.
- Submit ` + "`id,malignant`" + ` with a probability in [0, 1] for every test id. Scored by ROC AUC (sklearn.metrics.roc_auc_score; ties count half), higher is better.

The split is deterministic: 30% of the 569 cases (seeded shuffle) are held out.

**Source:** Breast Cancer Wisconsin (Diagnostic) data set, W. H. Wolberg, W. N. Street and O. L. Mangasarian, University of Wisconsin, 1995; UCI Machine Learning Repository, https://doi.org/10.24432/C5DW2B. **Licence:** CC BY 4.0. This copy is the one scikit-learn ships (Debian's python3-sklearn 1.2.1, sklearn/datasets/data/breast_cancer.csv; scikit-learn is BSD-3-Clause).`

// BreastCancerFiles splits the data deterministically into the public
// train and test files, the sample submission (0.5 for every case) and the
// hidden holdout CSV (id,malignant). Ids are the 1-based case numbers.
func BreastCancerFiles() (train, test, sample, holdoutCSV []byte, err error) {
	cr := csv.NewReader(bytes.NewReader(breastCancerCSV))
	cr.FieldsPerRecord = -1 // a count line, then rows of 31
	recs, err := cr.ReadAll()
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("breast cancer data: %w", err)
	}
	if len(recs) != 570 || len(recs[0]) != 4 {
		return nil, nil, nil, nil, errors.New("breast cancer data: unexpected shape")
	}
	rows := recs[1:]
	n := len(rows)
	perm := rand.New(rand.NewPCG(Seed, 569)).Perm(n)
	inTest := make([]bool, n)
	for _, i := range perm[:int(float64(n)*BreastCancerTestShare)] {
		inTest[i] = true
	}
	var tr, te, sa, ho bytes.Buffer
	trw, tew, saw, how := csv.NewWriter(&tr), csv.NewWriter(&te), csv.NewWriter(&sa), csv.NewWriter(&ho)
	_ = trw.Write(append(append([]string{"id"}, BreastCancerFeatures...), "malignant"))
	_ = tew.Write(append([]string{"id"}, BreastCancerFeatures...))
	_ = saw.Write([]string{"id", "malignant"})
	_ = how.Write([]string{"id", "malignant"})
	for i, r := range rows {
		if len(r) != 31 {
			return nil, nil, nil, nil, fmt.Errorf("breast cancer data: row %d has %d fields", i+2, len(r))
		}
		id := strconv.Itoa(i + 1)
		malignant := map[string]string{"0": "1", "1": "0"}[strings.TrimSpace(r[30])]
		if malignant == "" {
			return nil, nil, nil, nil, fmt.Errorf("breast cancer data: row %d: target %q", i+2, r[30])
		}
		features := r[:30]
		if inTest[i] {
			_ = tew.Write(append([]string{id}, features...))
			_ = saw.Write([]string{id, "0.5"})
			_ = how.Write([]string{id, malignant})
		} else {
			_ = trw.Write(append(append([]string{id}, features...), malignant))
		}
	}
	for _, w := range []*csv.Writer{trw, tew, saw, how} {
		w.Flush()
	}
	return tr.Bytes(), te.Bytes(), sa.Bytes(), ho.Bytes(), nil
}

// AuthorBreastCancer authors breast-cancer-diagnosis through the authoring
// service as v (an author or admin): create the draft, upload the public
// files and the holdout, certify, publish. It is idempotent: a published
// competition is left alone ("unchanged"), and a draft left by an
// interrupted run is completed.
func AuthorBreastCancer(ctx context.Context, svc *competitions.Service, v competitions.Viewer) (string, error) {
	d := BreastCancerDraft()
	state := "created"
	cur, err := svc.AuthorCompetition(ctx, v, d.Slug)
	switch {
	case err == nil && cur.Published:
		return "unchanged", nil
	case err == nil:
		state = "completed"
	case errors.Is(err, competitions.ErrNotFound):
		if _, err := svc.CreateDraft(ctx, v, d); err != nil {
			return "", err
		}
	default:
		return "", err
	}
	train, test, sample, hold, err := BreastCancerFiles()
	if err != nil {
		return "", err
	}
	if _, err := svc.UploadHoldout(ctx, v, d.Slug, hold); err != nil {
		return "", fmt.Errorf("holdout: %w", err)
	}
	for _, f := range []struct {
		kind, name string
		data       []byte
	}{{competitions.KindTraining, "train.csv", train}, {competitions.KindPublicEval, "test.csv", test},
		{competitions.KindSampleSubmission, SampleName, sample}} {
		if _, err := svc.UploadFile(ctx, v, d.Slug, f.kind, f.name, f.data); err != nil {
			return "", fmt.Errorf("%s: %w", f.name, err)
		}
	}
	if _, err := svc.Publish(ctx, v, d.Slug); err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	return state, nil
}
