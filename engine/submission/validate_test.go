package submission_test

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
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
		// Under a cap of 2 boxes: the same verdict when it admits the
		// string, else a refusal that names the cap.
		capped, cmsg := submission.ParseBoxes(s, nil, 2)
		full, fmsg := submission.ParsePredictionString(s, nil)
		switch {
		case cmsg == "" && (fmsg != "" || len(capped) != len(full) || len(capped) > 10):
			t.Fatalf("%q: capped %v %q, uncapped %v %q", s, capped, cmsg, full, fmsg)
		case cmsg != "" && fmsg == "" && len(full) <= 10:
			t.Fatalf("%q: refused under the cap (%q) with %d numbers", s, cmsg, len(full))
		case cmsg != "" && len(capped) != 0:
			t.Fatalf("%q: a refusal appended %v", s, capped)
		}
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
		for c, col := range sp.Columns {
			p := in.Columns[len(in.Columns)-len(sp.Columns)+c]
			for u := 0; col.Type == spec.Boxes && u < in.Units; u++ {
				if n := int(p.Offsets[u+1]-p.Offsets[u]) / 5; n > col.BoxLimit() || p.Offsets[u+1] < p.Offsets[u] {
					t.Fatalf("unit %d: %d boxes accepted, cap %d", u, n, col.BoxLimit())
				}
			}
			if col.Type == spec.Boxes && int(p.Offsets[in.Units]) != len(p.Float64) {
				t.Fatalf("offsets end at %d, %d numbers", p.Offsets[in.Units], len(p.Float64))
			}
		}
	})
}

func TestParseBoxesLimit(t *testing.T) {
	t.Parallel()
	box := "0.5 1 2 3 4 "
	tests := []struct {
		name string
		in   string
		max  int
		n    int // boxes accepted
		err  string
	}{
		{"at the limit", strings.Repeat(box, 3), 3, 3, ""},
		{"one past the limit", strings.Repeat(box, 4), 3, 0, "has more than 3 boxes; this competition accepts at most 3 boxes per row"},
		{"partial box past the limit", strings.Repeat(box, 3) + "0.5", 3, 0, "has more than 3 boxes"},
		{"trailing spaces at the limit", strings.Repeat(box, 3) + "   \t", 3, 3, ""},
		{"no limit", strings.Repeat(box, 500), 0, 500, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, msg := submission.ParseBoxes([]byte(tc.in), nil, tc.max)
			if tc.err != "" {
				require.Contains(t, msg, tc.err)
				require.Empty(t, got)
				return
			}
			require.Empty(t, msg)
			require.Len(t, got, 5*tc.n)
		})
	}
}

// TestBoxesPerRowCap: a row past the competition's stated cap is refused
// with its row and column named, and other rows are still checked.
func TestBoxesPerRowCap(t *testing.T) {
	t.Parallel()
	sp, h := load(t, spec.RSNA, rsnaHoldout)
	require.Equal(t, 100, sp.Columns[0].BoxLimit(), "the built-in RSNA spec states its cap")
	many := strings.TrimSpace(strings.Repeat("0.5 1 2 3 4 ", 101))
	_, err := submission.Validate(sp, h, []byte("patientId,PredictionString\np1,"+many+"\np2,\np3,0.5 1 2 3\n"), submission.Limits{})
	var ie *strictcsv.InvalidError
	require.True(t, errors.As(err, &ie), "got %v", err)
	require.Contains(t, err.Error(), `row 2, column "PredictionString"`)
	require.Contains(t, err.Error(), "has more than 100 boxes; this competition accepts at most 100 boxes per row")
	require.Contains(t, err.Error(), `row 4, column "PredictionString", value "0.5 1 2 3": has 4 numbers`)
	// A spec may state its own cap.
	sp.Columns[0].MaxBoxes = 2
	require.NoError(t, sp.Validate())
	_, err = submission.Validate(sp, h, []byte("patientId,PredictionString\np1,0.5 1 2 3 4 0.5 1 2 3 4 0.5 1 2 3 4\np2,\np3,\n"), submission.Limits{})
	require.ErrorContains(t, err, "has more than 2 boxes")
	in, err := submission.Validate(sp, h, []byte("patientId,PredictionString\np1,0.5 1 2 3 4 0.5 1 2 3 4\np2,\np3,\n"), submission.Limits{})
	require.NoError(t, err)
	require.Equal(t, []int32{0, 10, 10, 10}, in.Columns[2].Offsets)
}

// rsnaHoldoutOf builds an RSNA holdout of n units, one box each.
func rsnaHoldoutOf(t testing.TB, n int) (spec.Spec, *holdout.Holdout) {
	t.Helper()
	var b strings.Builder
	b.WriteString("patientId,x,y,width,height,Target\n")
	for u := range n {
		fmt.Fprintf(&b, "p%05d,10,10,100,100,1\n", u)
	}
	return load(t, spec.RSNA, b.String())
}

// manyBoxes is an RSNA submission of n rows of boxes boxes each, in holdout
// order, about size bytes when size > 0 (the boxes per row then follow).
func manyBoxes(n, boxes int) []byte {
	var b bytes.Buffer
	b.WriteString("patientId,PredictionString\n")
	row := strings.TrimSpace(strings.Repeat("0.5 1 1 1 1 ", boxes))
	for u := range n {
		fmt.Fprintf(&b, "p%05d,%s\n", u, row)
	}
	return b.Bytes()
}

// allocated is what f allocates on the heap (the test runs alone).
func allocated(f func()) uint64 {
	runtime.GC()
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// TestValidationMemoryManyBoxes is the memory finding: a 60 MiB RSNA file
// with thousands of boxes on each row allocated about 1.7 GiB in
// validation. Now a row past the cap is refused as soon as its first
// number past the cap is read, so the file costs at most the room for the
// holdout's units at the cap, whatever its size; and a large file within a
// generous cap costs at most a small multiple of its size (each number is
// at least 2 bytes of the file and 8 of memory, reserved once and held
// once: boxes in holdout order become the column as they are).
func TestValidationMemoryManyBoxes(t *testing.T) {
	const units = 3000
	sp, h := rsnaHoldoutOf(t, units)
	// 60 MiB: 3000 rows of about 1750 boxes.
	big := manyBoxes(units, 60<<20/units/12)
	var err error
	alloc := allocated(func() { _, err = submission.Validate(sp, h, big, submission.Limits{}) })
	require.ErrorContains(t, err, "this competition accepts at most 100 boxes per row")
	t.Logf("%d MiB file past the cap: %d MiB allocated", len(big)>>20, alloc>>20)
	// At most the room for every unit at the cap (3000 x 100 boxes x 40
	// bytes, 11.4 MiB), reserved once and mostly untouched.
	require.Less(t, alloc, uint64(16<<20), "a file past the cap allocated %d MiB", alloc>>20)

	// The same file under a cap that admits it: accepted, within 8x.
	sp.Columns[0].MaxBoxes = spec.MaxBoxesLimit
	var in *abi.Input
	alloc = allocated(func() { in, err = submission.Validate(sp, h, big, submission.Limits{}) })
	require.NoError(t, err)
	require.Equal(t, units, in.Units)
	t.Logf("%d MiB file within the cap: %d MiB allocated (%.1fx)", len(big)>>20, alloc>>20, float64(alloc)/float64(len(big)))
	require.Less(t, alloc, uint64(5*len(big)), "validation allocated %d MiB for a %d MiB file", alloc>>20, len(big)>>20)
}

// TestDuplicateFloodStopsEarly: a file that repeats one row millions of
// times is refused once the problems are full, and its entries never
// outnumber the holdout's units.
func TestDuplicateFloodStopsEarly(t *testing.T) {
	sp, h := load(t, spec.Titanic, titanicHoldout)
	flood := []byte("PassengerId,Survived\n" + strings.Repeat("892,0\n", 8<<20))
	var err error
	alloc := allocated(func() { _, err = submission.Validate(sp, h, flood, submission.Limits{}) })
	require.ErrorContains(t, err, `row 3, column "PassengerId", value "892": duplicate id, first given at row 2`)
	require.ErrorContains(t, err, "stopped after 20 problems")
	t.Logf("%d MiB of duplicates: %d KiB allocated", len(flood)>>20, alloc>>10)
	require.Less(t, alloc, uint64(1<<20))
}
