package metrics

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/internal/reftest"
)

func TestAccuracy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		truth, pred []int64
		want        float64
		wantPer     []float64
	}{
		{"all right", []int64{0, 1, 1}, []int64{0, 1, 1}, 1, []float64{1, 1, 1}},
		{"all wrong", []int64{0, 1}, []int64{1, 0}, 0, []float64{0, 0}},
		{"three of four", []int64{0, 1, 0, 1}, []int64{0, 1, 1, 1}, 0.75, []float64{1, 1, 0, 1}},
		{"labels beyond binary", []int64{99, 0, 42}, []int64{99, 1, 42}, 2.0 / 3, []float64{1, 0, 1}},
		{"one step and a tail", []int64{1, 2, 3, 4, 5, 6, 7}, []int64{1, 0, 3, 0, 5, 0, 7}, 4.0 / 7, []float64{1, 0, 1, 0, 1, 0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			per := make([]float64, len(tt.truth))
			if got := Accuracy(tt.truth, tt.pred, per); got != tt.want {
				t.Fatalf("Accuracy = %v, want %v", got, tt.want)
			}
			if got := Accuracy(tt.truth, tt.pred, nil); got != tt.want {
				t.Fatalf("Accuracy without per-unit = %v, want %v", got, tt.want)
			}
			for i := range per {
				if per[i] != tt.wantPer[i] {
					t.Fatalf("per-unit %v, want %v", per, tt.wantPer)
				}
			}
		})
	}
}

func TestIoU(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a, b []float64
		want float64
	}{
		{"same", []float64{0, 0, 10, 10}, []float64{0, 0, 10, 10}, 1},
		{"half", []float64{0, 0, 10, 10}, []float64{0, 0, 10, 5}, 0.5},
		{"touching edges", []float64{0, 0, 10, 10}, []float64{10, 0, 10, 10}, 0},
		{"apart", []float64{0, 0, 10, 10}, []float64{50, 50, 1, 1}, 0},
		{"offset", []float64{0, 0, 10, 10}, []float64{5, 5, 10, 10}, 25.0 / 175},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := IoU(tt.a, tt.b); got != tt.want {
				t.Fatalf("IoU = %v, want %v", got, tt.want)
			}
		})
	}
}

// Boxes for the hand-computed RSNA cases. IoU(A,G) = IoU(A,H) = 0.6 exactly,
// IoU(G,H) = 0.2, IoU(A,D) = 0.5.
var (
	boxA = []float64{0, 0, 10, 10}
	boxG = []float64{0, 0, 10, 6}
	boxH = []float64{0, 4, 10, 6}
	boxD = []float64{0, 0, 10, 5}
	far  = []float64{500, 500, 10, 10}
)

func boxes(bs ...[]float64) []float64 {
	var out []float64
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func pred(conf float64, b []float64) []float64 { return append([]float64{conf}, b...) }

func TestImageScore(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		truth, pred []float64
		want        float64 // NaN: left out
	}{
		{"no truth no prediction is left out", nil, nil, math.NaN()},
		{"no truth with a prediction scores 0", nil, pred(0.9, boxA), 0},
		{"truth without prediction scores 0", boxA, nil, 0},
		{"exact match", boxA, pred(0.9, boxA), 1},
		// IoU 0.5: TP at 0.40, 0.45, 0.50; at the five higher thresholds
		// TP 0, FP 1, FN 1.
		{"IoU 0.5 counts at thresholds up to 0.5", boxA, pred(0.9, boxD), 3.0 / 8},
		{"extra prediction is a false positive", boxA, boxes(pred(0.9, boxA), pred(0.8, far)), 0.5},
		// Ties keep string order: G is tried first, A takes G at t <= 0.6
		// and leaves G's own truth box nothing but H (IoU 0.2): 1/3 at every
		// threshold.
		{"confidence tie keeps string order", boxes(boxA, boxG), boxes(pred(0.5, boxG), pred(0.5, boxH)), 1.0 / 3},
		// Sorted by confidence, H comes first: at t <= 0.6 A takes H and G
		// takes G (1); above, A matches nothing (1/3). (5*1 + 3/3) / 8.
		{"higher confidence first", boxes(boxA, boxG), boxes(pred(0.3, boxG), pred(0.9, boxH)), 0.75},
		{"two truths one prediction", boxes(boxA, far), pred(1, boxA), 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := ImageScore(tt.truth, tt.pred, nil)
			if math.IsNaN(tt.want) != math.IsNaN(got) || !math.IsNaN(got) && math.Abs(got-tt.want) > 1e-15 {
				t.Fatalf("ImageScore = %v, want %v", got, tt.want)
			}
		})
	}
}

// listColumn builds Arrow-style offsets and values from per-unit slices.
func listColumn(units [][]float64) ([]int32, []float64) {
	off := []int32{0}
	var vals []float64
	for _, u := range units {
		vals = append(vals, u...)
		off = append(off, int32(len(vals)))
	}
	return off, vals
}

func TestMapIoU(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		truth   [][]float64
		pred    [][]float64
		want    float64
		wantPer []float64
	}{
		{"every image left out scores 1", [][]float64{nil, nil}, [][]float64{nil, nil}, 1, []float64{math.NaN(), math.NaN()}},
		{"left-out image does not count", [][]float64{nil, boxA, nil}, [][]float64{nil, pred(1, boxA), pred(1, far)}, 0.5, []float64{math.NaN(), 1, 0}},
		{"mean over images", [][]float64{boxA, boxA}, [][]float64{pred(1, boxA), pred(1, boxD)}, (1 + 3.0/8) / 2, []float64{1, 3.0 / 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			to, tv := listColumn(tt.truth)
			po, pv := listColumn(tt.pred)
			per := make([]float64, len(tt.truth))
			if got := MapIoU(to, tv, po, pv, per); got != tt.want {
				t.Fatalf("MapIoU = %v, want %v", got, tt.want)
			}
			for i := range per {
				if math.IsNaN(per[i]) != math.IsNaN(tt.wantPer[i]) || !math.IsNaN(per[i]) && per[i] != tt.wantPer[i] {
					t.Fatalf("per-unit %v, want %v", per, tt.wantPer)
				}
			}
		})
	}
}

func TestMetricsOnInput(t *testing.T) {
	t.Parallel()
	to, tv := listColumn([][]float64{boxA, nil})
	po, pv := listColumn([][]float64{pred(1, boxA), nil})
	tests := []struct {
		name    string
		metric  func(abi.Input) (abi.Result, error)
		in      abi.Input
		want    float64
		wantErr string
	}{
		{"accuracy", AccuracyMetric, abi.Input{Units: 2, Columns: []abi.Column{
			{Name: "t", Role: abi.Truth, Type: abi.Int64, Int64: []int64{1, 0}},
			{Name: "p", Role: abi.Prediction, Type: abi.Int64, Int64: []int64{1, 1}},
		}}, 0.5, ""},
		{"accuracy wrong type", AccuracyMetric, abi.Input{Units: 1, Columns: []abi.Column{
			{Name: "t", Role: abi.Truth, Type: abi.Float64, Float64: []float64{1}},
			{Name: "p", Role: abi.Prediction, Type: abi.Int64, Int64: []int64{1}},
		}}, 0, "needs one truth column of type int64"},
		{"accuracy no units", AccuracyMetric, abi.Input{Columns: []abi.Column{
			{Name: "t", Role: abi.Truth, Type: abi.Int64},
			{Name: "p", Role: abi.Prediction, Type: abi.Int64},
		}}, 0, "no units"},
		{"top1 two predictions", Top1Metric, abi.Input{Units: 1, Columns: []abi.Column{
			{Name: "t", Role: abi.Truth, Type: abi.Int64, Int64: []int64{1}},
			{Name: "p", Role: abi.Prediction, Type: abi.Int64, Int64: []int64{1}},
			{Name: "q", Role: abi.Prediction, Type: abi.Int64, Int64: []int64{1}},
		}}, 0, "more than one prediction column"},
		{"map-iou", MapIoUMetric, abi.Input{Units: 2, Columns: []abi.Column{
			{Name: "t", Role: abi.Truth, Type: abi.ListFloat64, Offsets: to, Float64: tv},
			{Name: "p", Role: abi.Prediction, Type: abi.ListFloat64, Offsets: po, Float64: pv},
		}}, 1, ""},
		{"map-iou ragged boxes", MapIoUMetric, abi.Input{Units: 1, Columns: []abi.Column{
			{Name: "t", Role: abi.Truth, Type: abi.ListFloat64, Offsets: []int32{0, 3}, Float64: []float64{1, 2, 3}},
			{Name: "p", Role: abi.Prediction, Type: abi.ListFloat64, Offsets: []int32{0, 0}, Float64: []float64{}},
		}}, 0, "4 numbers each"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := tt.metric(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || res.Primary != tt.want {
				t.Fatalf("got %+v, %v; want primary %v", res, err, tt.want)
			}
			if err := abi.CheckResult(&res, tt.in.Units); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// rsnaCase is a generated RSNA data set: per image, ground-truth boxes and
// predictions (conf x y w h).
type rsnaCase struct {
	truth [][]float64
	pred  [][]float64
}

// genRSNA draws images with 0-3 truth boxes and 0-4 predictions, most near a
// truth box, confidences on a coarse grid so ties are common.
func genRSNA(seed uint64, n int) rsnaCase {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var c rsnaCase
	for range n {
		var tb, pb []float64
		nt := r.IntN(4)
		if r.IntN(3) == 0 {
			nt = 0
		}
		for range nt {
			tb = append(tb, float64(r.IntN(900)), float64(r.IntN(900)), float64(20+r.IntN(300)), float64(20*(1+r.IntN(15))))
		}
		np := r.IntN(5)
		for range np {
			conf := float64(r.IntN(11)) / 10
			if nt > 0 && r.IntN(3) == 0 {
				// Same box cut to k/20 of its height: IoU exactly k/20,
				// right on a threshold, so >= versus > matters.
				g := tb[4*r.IntN(nt):]
				pb = append(pb, conf, g[0], g[1], g[2], g[3]*float64(8+r.IntN(8))/20)
			} else if nt > 0 && r.IntN(4) != 0 {
				g := tb[4*r.IntN(nt):]
				jit := func(v float64) float64 { return v + r.Float64()*40 - 20 }
				w, h := math.Max(1, jit(g[2])), math.Max(1, jit(g[3]))
				pb = append(pb, conf, jit(g[0]), jit(g[1]), w, h)
			} else {
				pb = append(pb, conf, r.Float64()*900, r.Float64()*900, 1+r.Float64()*300, 1+r.Float64()*300)
			}
		}
		c.truth = append(c.truth, tb)
		c.pred = append(c.pred, pb)
	}
	return c
}

func (c rsnaCase) csv(dir string) (holdout, submission string, err error) {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	var h, s bytes.Buffer
	h.WriteString("patientId,x,y,width,height,Target\n")
	s.WriteString("patientId,PredictionString\n")
	for i := range c.truth {
		id := fmt.Sprintf("p%05d", i)
		if len(c.truth[i]) == 0 {
			fmt.Fprintf(&h, "%s,,,,,0\n", id)
		}
		for b := 0; b < len(c.truth[i]); b += 4 {
			t := c.truth[i][b:]
			fmt.Fprintf(&h, "%s,%s,%s,%s,%s,1\n", id, f(t[0]), f(t[1]), f(t[2]), f(t[3]))
		}
		parts := make([]string, len(c.pred[i]))
		for j, v := range c.pred[i] {
			parts[j] = f(v)
		}
		fmt.Fprintf(&s, "%s,%s\n", id, strings.Join(parts, " "))
	}
	holdout, submission = filepath.Join(dir, "holdout.csv"), filepath.Join(dir, "submission.csv")
	if err = os.WriteFile(holdout, h.Bytes(), 0o600); err == nil {
		err = os.WriteFile(submission, s.Bytes(), 0o600)
	}
	return holdout, submission, err
}

// TestMapIoUAgreesWithReference checks MapIoU against the repository's own
// pandas + sklearn reference scorer (internal/reftest) on many generated data
// sets, to 1e-9. One Python process scores them all, to pay pandas' start-up
// once.
func TestMapIoUAgreesWithReference(t *testing.T) {
	t.Parallel()
	seeds := 60
	if testing.Short() {
		seeds = 5
	}
	dir := t.TempDir()
	cases := make([]rsnaCase, seeds)
	var jobs []reftest.Job
	for seed := range seeds {
		cases[seed] = genRSNA(uint64(seed), 20+seed*7)
		sub := filepath.Join(dir, strconv.Itoa(seed))
		if err := os.Mkdir(sub, 0o700); err != nil {
			t.Fatal(err)
		}
		h, s, err := cases[seed].csv(sub)
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, reftest.Job{Competition: "rsna-pneumonia-detection", Holdout: h, Submission: s})
	}
	answers := reftest.Score(t, jobs)
	for seed, c := range cases {
		to, tv := listColumn(c.truth)
		po, pv := listColumn(c.pred)
		got := MapIoU(to, tv, po, pv, nil)
		a := answers[seed]
		if a.Error != "" || a.Score == nil {
			t.Fatalf("seed %d: reference rejected the set: %q", seed, a.Error)
		}
		if math.Abs(got-*a.Score) > 1e-9 {
			t.Errorf("seed %d: MapIoU = %.17g, reference %.17g", seed, got, *a.Score)
		}
	}
}

func BenchmarkAccuracy1M(b *testing.B) {
	truth, pred := make([]int64, 1<<20), make([]int64, 1<<20)
	for i := range truth {
		truth[i], pred[i] = int64(i%2), int64(i%3%2)
	}
	per := make([]float64, len(truth))
	b.SetBytes(16 << 20)
	for b.Loop() {
		Accuracy(truth, pred, per)
	}
}
