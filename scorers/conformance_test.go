package scorers_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/engine/sandbox"
	"github.com/medforge/medforge/scorers"
	"github.com/medforge/medforge/scorers/metrics"
	"github.com/medforge/medforge/scorers/scorertest"
)

func TestMain(m *testing.M) {
	sandbox.MaybeRunWorker()
	os.Exit(m.Run())
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func newPool(t *testing.T) *sandbox.Pool {
	t.Helper()
	p, err := sandbox.New(sandbox.Options{CacheDir: filepath.Join(os.TempDir(), "medforge-scorers-test-cache"), Workers: 2, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func loadBuiltin(t *testing.T, p *sandbox.Pool, name string) *sandbox.Module {
	t.Helper()
	wasm, err := os.ReadFile(scorertest.Build(t, name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := p.Load(ctxFor(t), wasm)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return m
}

func intInput(truth, pred []int64) *abi.Input {
	return &abi.Input{Units: len(truth), Columns: []abi.Column{
		{Name: "Survived", Role: abi.Truth, Type: abi.Int64, Int64: truth},
		{Name: "Survived", Role: abi.Prediction, Type: abi.Int64, Int64: pred},
	}}
}

func listInput(truth, pred [][]float64) *abi.Input {
	col := func(units [][]float64) ([]int32, []float64) {
		off, vals := []int32{0}, []float64{}
		for _, u := range units {
			vals = append(vals, u...)
			off = append(off, int32(len(vals)))
		}
		return off, vals
	}
	to, tv := col(truth)
	po, pv := col(pred)
	ids := make([]byte, 0)
	idOff := []int32{0}
	for i := range truth {
		ids = append(ids, byte('a'+i%26))
		idOff = append(idOff, int32(len(ids)))
	}
	return &abi.Input{Units: len(truth), Columns: []abi.Column{
		{Name: "patientId", Role: abi.Key, Type: abi.Utf8, Offsets: idOff, Data: ids},
		{Name: "boxes", Role: abi.Truth, Type: abi.ListFloat64, Offsets: to, Float64: tv},
		{Name: "PredictionString", Role: abi.Prediction, Type: abi.ListFloat64, Offsets: po, Float64: pv},
	}}
}

type conformanceCase struct {
	name        string
	in          *abi.Input
	want        float64   // primary
	wantPer     []float64 // NaN = left out
	wantSecName string
	wantSec     float64
	wantErr     string // internal error text expected instead
}

func samePer(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.IsNaN(a[i]) != math.IsNaN(b[i]) || !math.IsNaN(a[i]) && math.Abs(a[i]-b[i]) > 1e-15 {
			return false
		}
	}
	return true
}

func runConformance(t *testing.T, p *sandbox.Pool, m *sandbox.Module, cases []conformanceCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			res, err := p.Score(ctxFor(t), m, tt.in)
			if tt.wantErr != "" {
				var ge *abi.GuestError
				if !errors.As(err, &ge) || ge.Public || !strings.Contains(ge.Message, tt.wantErr) {
					t.Fatalf("Score() = %v, want internal guest error %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(res.Primary-tt.want) > 1e-15 || !samePer(res.PerUnit, tt.wantPer) {
				t.Fatalf("got primary %v per-unit %v, want %v %v", res.Primary, res.PerUnit, tt.want, tt.wantPer)
			}
			if len(res.Secondary) != 1 || res.Secondary[0].Name != tt.wantSecName || res.Secondary[0].Value != tt.wantSec {
				t.Fatalf("secondary %v, want %s=%v", res.Secondary, tt.wantSecName, tt.wantSec)
			}
		})
	}
}

// accuracyCases apply to accuracy, top1 and accuracy-c alike.
var accuracyCases = []conformanceCase{
	{name: "three of four", in: intInput([]int64{0, 1, 0, 1}, []int64{0, 1, 1, 1}), want: 0.75, wantPer: []float64{1, 1, 0, 1}, wantSecName: "correct", wantSec: 3},
	{name: "one unit wrong", in: intInput([]int64{1}, []int64{0}), want: 0, wantPer: []float64{0}, wantSecName: "correct", wantSec: 0},
	{name: "cifar labels", in: intInput([]int64{99, 0, 42}, []int64{99, 1, 42}), want: 2.0 / 3, wantPer: []float64{1, 0, 1}, wantSecName: "correct", wantSec: 2},
	{name: "no units", in: intInput(nil, nil), wantErr: "no units"},
	{name: "missing prediction", in: &abi.Input{Units: 1, Columns: []abi.Column{{Name: "t", Role: abi.Truth, Type: abi.Int64, Int64: []int64{1}}}}, wantErr: "prediction column of type int64"},
	{name: "float truth", in: &abi.Input{Units: 1, Columns: []abi.Column{
		{Name: "t", Role: abi.Truth, Type: abi.Float64, Float64: []float64{1}},
		{Name: "p", Role: abi.Prediction, Type: abi.Int64, Int64: []int64{1}},
	}}, wantErr: "truth column of type int64"},
}

func TestAccuracyModulesConform(t *testing.T) {
	t.Parallel()
	p := newPool(t)
	for _, name := range []string{scorers.Accuracy, scorers.Top1, scorers.AccuracyC} {
		t.Run(name, func(t *testing.T) {
			runConformance(t, p, loadBuiltin(t, p, name), accuracyCases)
		})
	}
}

func TestMapIoUModuleConforms(t *testing.T) {
	t.Parallel()
	A, G, H, D := []float64{0, 0, 10, 10}, []float64{0, 0, 10, 6}, []float64{0, 4, 10, 6}, []float64{0, 0, 10, 5}
	far := []float64{500, 500, 10, 10}
	pr := func(conf float64, b []float64) []float64 { return append([]float64{conf}, b...) }
	cat := func(bs ...[]float64) []float64 {
		var out []float64
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	nan := math.NaN()
	cases := []conformanceCase{
		{name: "every image left out scores 1", in: listInput([][]float64{nil, nil}, [][]float64{nil, nil}), want: 1, wantPer: []float64{nan, nan}, wantSecName: "images_scored", wantSec: 0},
		{name: "prediction without truth scores 0", in: listInput([][]float64{nil, A}, [][]float64{pr(0.9, A), pr(0.9, A)}), want: 0.5, wantPer: []float64{0, 1}, wantSecName: "images_scored", wantSec: 2},
		{name: "truth without prediction scores 0", in: listInput([][]float64{A, nil}, [][]float64{nil, nil}), want: 0, wantPer: []float64{0, nan}, wantSecName: "images_scored", wantSec: 1},
		{name: "IoU 0.5 counts up to threshold 0.5", in: listInput([][]float64{A}, [][]float64{pr(1, D)}), want: 3.0 / 8, wantPer: []float64{3.0 / 8}, wantSecName: "images_scored", wantSec: 1},
		{name: "confidence tie keeps string order", in: listInput([][]float64{cat(A, G)}, [][]float64{cat(pr(0.5, G), pr(0.5, H))}), want: 1.0 / 3, wantPer: []float64{1.0 / 3}, wantSecName: "images_scored", wantSec: 1},
		{name: "higher confidence first", in: listInput([][]float64{cat(A, G)}, [][]float64{cat(pr(0.3, G), pr(0.9, H))}), want: 0.75, wantPer: []float64{0.75}, wantSecName: "images_scored", wantSec: 1},
		{name: "false positive halves", in: listInput([][]float64{A}, [][]float64{cat(pr(0.9, A), pr(0.8, far))}), want: 0.5, wantPer: []float64{0.5}, wantSecName: "images_scored", wantSec: 1},
		{name: "ragged truth", in: &abi.Input{Units: 1, Columns: []abi.Column{
			{Name: "t", Role: abi.Truth, Type: abi.ListFloat64, Offsets: []int32{0, 3}, Float64: []float64{1, 2, 3}},
			{Name: "p", Role: abi.Prediction, Type: abi.ListFloat64, Offsets: []int32{0, 0}, Float64: []float64{}},
		}}, wantErr: "4 numbers each"},
	}
	p := newPool(t)
	runConformance(t, p, loadBuiltin(t, p, scorers.MapIoU), cases)
}

// TestModulesMatchNative requires every module to return exactly what the
// native Go metric returns, per-unit values included, on random inputs.
func TestModulesMatchNative(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 11))
	n := 20000
	truth, pred := make([]int64, n), make([]int64, n)
	for i := range truth {
		truth[i], pred[i] = int64(r.IntN(100)), int64(r.IntN(100))
		if r.IntN(3) > 0 {
			pred[i] = truth[i]
		}
	}
	var tl, pl [][]float64
	for range 3000 {
		var tb, pb []float64
		for range r.IntN(3) {
			tb = append(tb, float64(r.IntN(500)), float64(r.IntN(500)), float64(10+r.IntN(200)), float64(10+r.IntN(200)))
		}
		for range r.IntN(4) {
			pb = append(pb, float64(r.IntN(5))/4, float64(r.IntN(500)), float64(r.IntN(500)), float64(10+r.IntN(200)), float64(10+r.IntN(200)))
		}
		tl, pl = append(tl, tb), append(pl, pb)
	}
	p := newPool(t)
	for _, tc := range []struct {
		name   string
		in     *abi.Input
		native func(abi.Input) (abi.Result, error)
	}{
		{scorers.Accuracy, intInput(truth, pred), metrics.AccuracyMetric},
		{scorers.Top1, intInput(truth, pred), metrics.Top1Metric},
		{scorers.AccuracyC, intInput(truth, pred), metrics.AccuracyMetric},
		{scorers.MapIoU, listInput(tl, pl), metrics.MapIoUMetric},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := tc.native(*tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Score(ctxFor(t), loadBuiltin(t, p, tc.name), tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got.Primary != want.Primary || len(got.PerUnit) != len(want.PerUnit) {
				t.Fatalf("primary %v, native %v", got.Primary, want.Primary)
			}
			for i := range got.PerUnit {
				if math.Float64bits(got.PerUnit[i]) != math.Float64bits(want.PerUnit[i]) &&
					!(math.IsNaN(got.PerUnit[i]) && math.IsNaN(want.PerUnit[i])) {
					t.Fatalf("per-unit %d: %v, native %v", i, got.PerUnit[i], want.PerUnit[i])
				}
			}
		})
	}
}

func TestDirAndPath(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(scorers.DirEnv, dir)
	if d, err := scorers.Dir(); err != nil || d != dir {
		t.Fatalf("Dir() = %q, %v", d, err)
	}
	if _, err := scorers.Path(scorers.Accuracy); err == nil || !strings.Contains(err.Error(), "make scorers") {
		t.Fatalf("Path() of a missing module = %v", err)
	}
	want := filepath.Join(dir, "top1.wasm")
	if err := os.WriteFile(want, []byte{0}, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := scorers.Path(scorers.Top1); err != nil || got != want {
		t.Fatalf("Path() = %q, %v", got, err)
	}
	t.Setenv(scorers.DirEnv, "")
	exe, _ := os.Executable()
	if d, _ := scorers.Dir(); d != filepath.Join(filepath.Dir(exe), "scorers") {
		t.Fatalf("default Dir() = %q", d)
	}
}
