package metrics_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os/exec"
	"testing"

	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/internal/reftest"
	"github.com/medforge/medforge/scorers/metrics"
)

type aucCase struct {
	Truth []float64 `json:"truth"`
	Pred  []float64 `json:"pred"`
}

// aucCases generates the agreement cases: random scores, coarse scores with
// many ties, all scores tied, perfect and inverted rankings, extreme
// imbalance, and single-class truths (sklearn refuses those).
func aucCases() []aucCase {
	r := rand.New(rand.NewPCG(12, 2026))
	var cases []aucCase
	gen := func(n int, pos float64, pred func(i int, t float64) float64) aucCase {
		c := aucCase{Truth: make([]float64, n), Pred: make([]float64, n)}
		for i := range n {
			if r.Float64() < pos {
				c.Truth[i] = 1
			}
			c.Pred[i] = pred(i, c.Truth[i])
		}
		return c
	}
	for _, n := range []int{2, 3, 5, 10, 57, 569, 1000, 10007} {
		cases = append(cases,
			gen(n, 0.4, func(int, float64) float64 { return r.Float64() }),
			gen(n, 0.3, func(_ int, t float64) float64 { return math.Min(1, math.Max(0, 0.3*t+r.NormFloat64()*0.3+0.35)) }),
			gen(n, 0.5, func(int, float64) float64 { return float64(r.IntN(4)) / 3 }), // heavy ties
			gen(n, 0.5, func(int, float64) float64 { return 0.5 }),                    // all tied
			gen(n, 0.5, func(_ int, t float64) float64 { return t }),                  // perfect
			gen(n, 0.5, func(_ int, t float64) float64 { return 1 - t }),              // inverted
			gen(n, 0.02, func(int, float64) float64 { return float64(r.IntN(1000)) / 999 }),
			gen(n, 0, func(int, float64) float64 { return r.Float64() }), // single class (0)
			gen(n, 1, func(int, float64) float64 { return r.Float64() }), // single class (1)
		)
	}
	// Denormal and tiny differences stay ordered.
	cases = append(cases, aucCase{Truth: []float64{0, 1, 0, 1}, Pred: []float64{0, 5e-324, 1e-300, 1e-300}})
	return cases
}

// TestROCAUCAgreesWithSklearn compares ROCAUC with
// sklearn.metrics.roc_auc_score (testdata/roc_auc_reference.py under
// Debian's python3-sklearn) to 1e-12 on generated cases, ties and single
// classes included.
func TestROCAUCAgreesWithSklearn(t *testing.T) {
	py := reftest.Sklearn(t)
	cases := aucCases()
	in, _ := json.Marshal(cases)
	cmd := exec.Command(py, "testdata/roc_auc_reference.py")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("reference: %v: %s", err, stderr.String())
	}
	var want []struct {
		AUC   *float64 `json:"auc"`
		Error string   `json:"error"`
	}
	if err := json.Unmarshal(out, &want); err != nil || len(want) != len(cases) {
		t.Fatalf("reference answer (%d for %d cases): %v", len(want), len(cases), err)
	}
	oneClass := 0
	for i, c := range cases {
		got, _, _, err := metrics.ROCAUC(c.Truth, c.Pred, nil)
		if want[i].Error == "one_class" {
			oneClass++
			if !errors.Is(err, metrics.ErrOneClass) {
				t.Errorf("case %d (n=%d): sklearn refuses a single class, ROCAUC gave %v, %v", i, len(c.Truth), got, err)
			}
			continue
		}
		if err != nil || want[i].AUC == nil {
			t.Fatalf("case %d: ROCAUC error %v, reference %+v", i, err, want[i])
		}
		if d := math.Abs(got - *want[i].AUC); d > 1e-12 {
			t.Errorf("case %d (n=%d): ROCAUC %.17g, sklearn %.17g (diff %g)", i, len(c.Truth), got, *want[i].AUC, d)
		}
	}
	if oneClass < 10 {
		t.Fatalf("only %d single-class cases reached the reference", oneClass)
	}
}

func TestROCAUCEdgeCases(t *testing.T) {
	for _, tc := range []struct {
		name        string
		truth, pred []float64
		want        float64
		err         string
	}{
		{"perfect", []float64{0, 0, 1, 1}, []float64{0.1, 0.2, 0.8, 0.9}, 1, ""},
		{"inverted", []float64{0, 0, 1, 1}, []float64{0.9, 0.8, 0.2, 0.1}, 0, ""},
		{"all tied", []float64{0, 1, 0, 1}, []float64{0.5, 0.5, 0.5, 0.5}, 0.5, ""},
		// pairs (p, n): (0.5 vs 0.5) = 1/2, (0.5 vs 0.1) = 1, (0.9 vs both) = 2 -> 3.5/4
		{"one tie", []float64{1, 0, 1, 0}, []float64{0.5, 0.5, 0.9, 0.1}, 0.875, ""},
		{"single class", []float64{1, 1}, []float64{0.2, 0.3}, 0, "only one class"},
		{"truth not binary", []float64{1, 2}, []float64{0.2, 0.3}, 0, "must be 0 or 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, _, err := metrics.ROCAUC(tc.truth, tc.pred, nil)
			if tc.err != "" {
				if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.err)) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ROCAUC = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestROCAUCMetricRefusesNonProbabilities(t *testing.T) {
	in := abi.Input{Units: 2, Columns: []abi.Column{
		{Name: "id", Role: abi.Key, Type: abi.Int64, Int64: []int64{7, 8}},
		{Name: "malignant", Role: abi.Truth, Type: abi.Float64, Float64: []float64{0, 1}},
		{Name: "malignant", Role: abi.Prediction, Type: abi.Float64, Float64: []float64{0.5, 1.5}},
	}}
	_, err := metrics.ROCAUCMetric(in)
	var ge *abi.GuestError
	if !errors.As(err, &ge) || !ge.Public || !bytes.Contains([]byte(ge.Message), []byte("id 8 has 1.5")) {
		t.Fatalf("err = %#v, want a public error naming id 8", err)
	}
	in.Columns[2].Float64[1] = 1
	res, err := metrics.ROCAUCMetric(in)
	if err != nil || res.Primary != 1 {
		t.Fatalf("ROCAUCMetric = %v, %v; want 1 (the positive scores above the negative)", res.Primary, err)
	}
}

func BenchmarkROCAUC1M(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 1_000_000
	truth, pred := make([]float64, n), make([]float64, n)
	for i := range n {
		if r.IntN(2) == 1 {
			truth[i] = 1
		}
		pred[i] = r.Float64()
	}
	scratch := make([]uint64, 2*n)
	b.ResetTimer()
	for range b.N {
		if _, _, _, err := metrics.ROCAUC(truth, pred, scratch); err != nil {
			b.Fatal(err)
		}
	}
}

// The radix-sort path agrees with a direct pair count on signed, signed-zero
// and widely spread scores (the sklearn cases stay within [0, 1]).
func TestROCAUCMatchesPairCount(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{300, 1000, 2500} {
		truth, pred := make([]float64, n), make([]float64, n)
		pool := []float64{0, math.Copysign(0, -1), -1, 1, -1e300, 1e300, 5e-324, -5e-324, 0.5}
		for i := range n {
			truth[i] = float64(i % 2)
			if r.IntN(3) == 0 {
				pred[i] = pool[r.IntN(len(pool))]
			} else {
				pred[i] = (r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(40)-20))
			}
		}
		var twice, pairs float64
		for i := range n {
			for j := range n {
				if truth[i] == 1 && truth[j] == 0 {
					pairs++
					switch {
					case pred[i] > pred[j]:
						twice += 2
					case pred[i] == pred[j]:
						twice++
					}
				}
			}
		}
		got, _, _, err := metrics.ROCAUC(truth, pred, nil)
		if want := twice / (2 * pairs); err != nil || got != want {
			t.Fatalf("n=%d: ROCAUC %v (%v), pair count %v", n, got, err, want)
		}
	}
}
