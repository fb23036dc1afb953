package submission_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/engine/holdout"
	"github.com/medforge/medforge/engine/spec"
	"github.com/medforge/medforge/engine/strictcsv"
	"github.com/medforge/medforge/engine/submission"
)

func load(t testing.TB, slug, csv string) (spec.Spec, *holdout.Holdout) {
	t.Helper()
	sp, ok := spec.Builtin(slug)
	require.True(t, ok)
	h, err := holdout.ImportCSV(sp, []byte(csv))
	require.NoError(t, err)
	return sp, h
}

const (
	titanicHoldout = "PassengerId,Survived\n892,0\n893,1\n894,0\n895,1\n"
	cifarHoldout   = "image_id,label\nimg-a,3\nimg-b,99\nimg-c,0\n"
	rsnaHoldout    = "patientId,x,y,width,height,Target\np1,10,10,100,100,1\np2,,,,,0\np1,300,300,50,50,1\np3,0,0,10,10,1\n"
)

func TestValidateAligns(t *testing.T) {
	t.Parallel()
	sp, h := load(t, spec.Titanic, titanicHoldout)
	in, err := submission.Validate(sp, h, []byte("\xef\xbb\xbfSurvived,PassengerId\r\n1,895\r\n\"0\",\"893\"\r\n1,892\r\n0,894"), submission.Limits{})
	require.NoError(t, err)
	require.Equal(t, 4, in.Units)
	require.Len(t, in.Columns, 3)
	require.Equal(t, abi.Key, in.Columns[0].Role)
	require.Equal(t, "PassengerId", in.Columns[0].Name)
	require.Equal(t, abi.Truth, in.Columns[1].Role)
	require.Equal(t, []int64{0, 1, 0, 1}, in.Columns[1].Int64)
	require.Equal(t, abi.Prediction, in.Columns[2].Role)
	require.Equal(t, "Survived", in.Columns[2].Name)
	require.Equal(t, []int64{1, 0, 0, 1}, in.Columns[2].Int64)
}

func TestValidateBoxesAligns(t *testing.T) {
	t.Parallel()
	sp, h := load(t, spec.RSNA, rsnaHoldout)
	in, err := submission.Validate(sp, h, []byte("patientId,PredictionString\np3,\np2,0.5 1 2 3 4\np1,  0.9 10 10 100 100\t0.1 0 0 5 5 \n"), submission.Limits{})
	require.NoError(t, err)
	require.Equal(t, 3, in.Units)
	truth, pred := in.Columns[1], in.Columns[2]
	require.Equal(t, "boxes", truth.Name)
	require.Equal(t, []int32{0, 8, 8, 12}, truth.Offsets)
	require.Equal(t, abi.ListFloat64, pred.Type)
	require.Equal(t, []int32{0, 10, 15, 15}, pred.Offsets)
	require.Equal(t, []float64{0.9, 10, 10, 100, 100, 0.1, 0, 0, 5, 5, 0.5, 1, 2, 3, 4}, pred.Float64)
}

func TestValidateProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		slug string
		sub  string
		lim  submission.Limits
		want []string
	}{
		{"empty file", spec.Titanic, "", submission.Limits{}, []string{"file is empty"}},
		{"header only", spec.Titanic, "PassengerId,Survived\n", submission.Limits{}, []string{"header but no rows", "(4 rows)"}},
		{"missing column", spec.Titanic, "PassengerId\n892\n", submission.Limits{}, []string{`row 1, column "Survived": required column is missing`}},
		{"unexpected column", spec.Titanic, "PassengerId,Survived,Name\n892,0,x\n", submission.Limits{}, []string{`row 1, column "Name": unexpected column`}},
		{"wrong case", spec.Titanic, "passengerid,Survived\n892,0\n", submission.Limits{}, []string{`column "PassengerId": required column is missing`, `column "passengerid": unexpected column (did you mean "PassengerId"?`}},
		{"duplicate header", spec.Titanic, "PassengerId,Survived,Survived\n892,0,0\n", submission.Limits{}, []string{`column "Survived": column appears twice`}},
		{"unknown id", spec.Titanic, "PassengerId,Survived\n892,0\n893,1\n894,0\n895,1\n999,1\n", submission.Limits{}, []string{`row 6, column "PassengerId", value "999": unknown id`}},
		{"leading zero id is unknown", spec.Titanic, "PassengerId,Survived\n0892,0\n893,1\n894,0\n895,1\n", submission.Limits{}, []string{`row 2, column "PassengerId", value "0892": unknown id`, `1 ids of the test set are missing (rows with other problems count as missing), e.g. "892"`}},
		{"empty id", spec.Titanic, "PassengerId,Survived\n,0\n", submission.Limits{}, []string{`row 2, column "PassengerId", value "": id is empty`}},
		{"duplicate id", spec.Titanic, "PassengerId,Survived\n892,0\n893,1\n892,1\n894,0\n895,1\n", submission.Limits{}, []string{`row 4, column "PassengerId", value "892": duplicate id, first given at row 2`}},
		{"missing ids", spec.Titanic, "PassengerId,Survived\n893,1\n", submission.Limits{}, []string{`column "PassengerId": 3 ids of the test set are missing, e.g. "892", "894", "895"`}},
		{"not binary", spec.Titanic, "PassengerId,Survived\n892,2\n893,1.0\n894,\n895,-1\n", submission.Limits{}, []string{`row 2, column "Survived", value "2": must be 0 or 1`, `row 3, column "Survived", value "1.0": must be 0 or 1`, `row 4, column "Survived", value "": must be 0 or 1`, `row 5, column "Survived", value "-1": must be 0 or 1`}},
		{"label range", spec.CIFAR, "image_id,label\nimg-a,100\nimg-b,x\nimg-c,0\n", submission.Limits{}, []string{`row 2, column "label", value "100": must be an integer from 0 to 99`, `row 3, column "label", value "x": must be an integer from 0 to 99`}},
		{"too many bytes", spec.Titanic, "PassengerId,Survived\n892,0\n", submission.Limits{MaxBytes: 10}, []string{"larger than the limit of 10 bytes"}},
		{"too many rows", spec.Titanic, "PassengerId,Survived\n892,0\n893,1\n894,0\n", submission.Limits{MaxRows: 2}, []string{"row 4: file has more than the limit of 2 rows"}},
		{"invalid utf8", spec.CIFAR, "image_id,label\nimg-\xff,1\n", submission.Limits{}, []string{`row 2, column "image_id", value "img-\xff": value is not valid UTF-8`}},
		{"capped", spec.Titanic, "PassengerId,Survived\n1,0\n2,0\n3,0\n4,0\n", submission.Limits{MaxProblems: 2}, []string{`value "1": unknown id`, `value "2": unknown id`, "stopped after 2 problems"}},
		{"groups of five", spec.RSNA, "patientId,PredictionString\np1,0.5 1 2 3\np2,\np3,\n", submission.Limits{}, []string{`row 2, column "PredictionString", value "0.5 1 2 3": has 4 numbers, not groups of 5`}},
		{"confidence range", spec.RSNA, "patientId,PredictionString\np1,1.5 1 2 3 4\np2,\np3,\n", submission.Limits{}, []string{`value "1.5 1 2 3 4": box 1: confidence "1.5" must be in [0,1]`}},
		{"negative width", spec.RSNA, "patientId,PredictionString\np1,0.5 1 2 3 4 0.5 1 2 -3 4\np2,\np3,\n", submission.Limits{}, []string{`box 2: width "-3" must be positive`}},
		{"zero height", spec.RSNA, "patientId,PredictionString\np1,0.5 1 2 3 0\np2,\np3,\n", submission.Limits{}, []string{`box 1: height "0" must be positive`}},
		{"not a number", spec.RSNA, "patientId,PredictionString\np1,0.5 1 nan 3 4\np2,\np3,\n", submission.Limits{}, []string{`box 1: y "nan" is not a finite decimal number`}},
		{"comma separated boxes", spec.RSNA, "patientId,PredictionString\np1,\"0.5,1,2,3,4\"\np2,\np3,\n", submission.Limits{}, []string{`box 1: confidence "0.5,1,2,3,4" is not a finite decimal number`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hcsv := map[string]string{spec.Titanic: titanicHoldout, spec.CIFAR: cifarHoldout, spec.RSNA: rsnaHoldout}[tc.slug]
			sp, h := load(t, tc.slug, hcsv)
			_, err := submission.Validate(sp, h, []byte(tc.sub), tc.lim)
			var ie *strictcsv.InvalidError
			require.True(t, errors.As(err, &ie), "want *InvalidError, got %v", err)
			msg := err.Error()
			for _, w := range tc.want {
				require.Contains(t, msg, w)
			}
		})
	}
}

func TestValidateNeverLeaksTruth(t *testing.T) {
	t.Parallel()
	// Truth values never appear in problems: make every truth label a
	// distinctive value and submit garbage.
	sp, h := load(t, spec.CIFAR, "image_id,label\na,77\nb,77\nc,77\n")
	_, err := submission.Validate(sp, h, []byte("image_id,label\na,5\nzz,1\na,2\n"), submission.Limits{})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "77")
}

func TestParsePredictionString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []float64
		err  string
	}{
		{"empty", "", nil, ""},
		{"spaces only", "   ", nil, ""},
		{"one", "0.5 1 2 3 4", []float64{0.5, 1, 2, 3, 4}, ""},
		{"two with tabs", "1 0 0 1 1\t\t0 -5 -5 2e1 .5 ", []float64{1, 0, 0, 1, 1, 0, -5, -5, 20, 0.5}, ""},
		{"short", "0.5 1 2", nil, "has 3 numbers"},
		{"text", "0.5 a 2 3 4", nil, `box 1: x "a"`},
		{"inf", "0.5 1 2 inf 4", nil, `width "inf" is not a finite`},
		{"conf negative", "-0.1 1 2 3 4", nil, "confidence"},
		{"newline is not a separator", "0.5 1 2 3\n4", nil, `width "3\n4"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, msg := submission.ParsePredictionString([]byte(tc.in), nil)
			if tc.err != "" {
				require.Contains(t, msg, tc.err)
				require.Empty(t, got)
				return
			}
			require.Empty(t, msg)
			require.Equal(t, tc.want, got)
		})
	}
}

func FuzzParsePredictionString(f *testing.F) {
	for _, s := range []string{"", "0.5 1 2 3 4", "1 0 0 1 1\t0 -5 -5 2e1 .5", "0.5 1 2", "x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		prefix := []float64{42}
		got, msg := submission.ParsePredictionString(s, prefix)
		if msg != "" {
			if len(got) != 1 || got[0] != 42 {
				t.Fatalf("failure changed dst: %v", got)
			}
			return
		}
		vals := got[1:]
		if len(vals)%5 != 0 {
			t.Fatalf("accepted %d numbers", len(vals))
		}
		for k := 0; k < len(vals); k += 5 {
			if vals[k] < 0 || vals[k] > 1 || !(vals[k+3] > 0) || !(vals[k+4] > 0) {
				t.Fatalf("accepted bad box %v from %q", vals[k:k+5], s)
			}
		}
		if len(strings.Fields(string(s))) != len(vals) && !strings.ContainsAny(string(s), "\n\r\v\f\u0085\u00a0") {
			t.Fatalf("%q: %d numbers, %d fields", s, len(vals), len(strings.Fields(string(s))))
		}
	})
}

// FuzzValidate feeds arbitrary submissions to each competition's validator:
// it must never panic, and what it accepts has one prediction per unit.
func FuzzValidate(f *testing.F) {
	f.Add(uint8(0), []byte("PassengerId,Survived\n892,0\n893,1\n894,0\n895,1\n"))
	f.Add(uint8(1), []byte("image_id,label\nimg-a,3\nimg-b,99\nimg-c,0\n"))
	f.Add(uint8(2), []byte("patientId,PredictionString\np1,0.5 1 2 3 4\np2,\np3,\n"))
	holdouts := map[string]string{spec.Titanic: titanicHoldout, spec.CIFAR: cifarHoldout, spec.RSNA: rsnaHoldout}
	slugs := spec.BuiltinSlugs()
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		slug := slugs[int(which)%len(slugs)]
		sp, h := load(t, slug, holdouts[slug])
		in, err := submission.Validate(sp, h, data, submission.Limits{MaxBytes: 1 << 16})
		if err != nil {
			var ie *strictcsv.InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("non-validation error: %v", err)
			}
			return
		}
		if in.Units != h.Units() {
			t.Fatal("units mismatch")
		}
	})
}
