package metrics

import (
	"errors"
	"math"
	"sort"
	"strconv"

	"github.com/medforge/medforge/engine/abi"
)

// Accuracy returns the share of units where pred equals truth, and writes
// each unit's contribution (1 or 0) into perUnit when perUnit is not nil.
// truth, pred and a non-nil perUnit must have the same length; with no units
// it returns NaN.
func Accuracy(truth, pred []int64, perUnit []float64) float64 {
	n := len(truth)
	pred = pred[:n]
	if perUnit == nil {
		correct := 0
		for i, t := range truth {
			correct += b2i(t == pred[i])
		}
		return float64(correct) / float64(n)
	}
	perUnit = perUnit[:n]
	// Four units per step, branch-free, with the bounds checks hoisted:
	// 1.7x faster inside a Go WebAssembly guest, whose code generator does
	// neither for us.
	c0, c1, c2, c3 := 0, 0, 0, 0
	i := 0
	for ; i+4 <= n; i += 4 {
		t, p, q := truth[i:i+4:i+4], pred[i:i+4:i+4], perUnit[i:i+4:i+4]
		v0, v1, v2, v3 := b2i(t[0] == p[0]), b2i(t[1] == p[1]), b2i(t[2] == p[2]), b2i(t[3] == p[3])
		c0, c1, c2, c3 = c0+v0, c1+v1, c2+v2, c3+v3
		q[0], q[1], q[2], q[3] = float64(v0), float64(v1), float64(v2), float64(v3)
	}
	for ; i < n; i++ {
		v := b2i(truth[i] == pred[i])
		c0 += v
		perUnit[i] = float64(v)
	}
	return float64(c0+c1+c2+c3) / float64(n)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Thresholds are the IoU thresholds of the RSNA metric, 0.40 to 0.75 by 0.05.
var Thresholds = [...]float64{0.40, 0.45, 0.50, 0.55, 0.60, 0.65, 0.70, 0.75}

// IoU returns the intersection over union of two boxes given as x, y,
// width, height (0 when they do not overlap). It rounds every product
// separately so the result is the same on every platform.
func IoU(a, b []float64) float64 {
	ax2, ay2 := a[0]+a[2], a[1]+a[3]
	bx2, by2 := b[0]+b[2], b[1]+b[3]
	iw := math.Min(ax2, bx2) - math.Max(a[0], b[0])
	ih := math.Min(ay2, by2) - math.Max(a[1], b[1])
	if iw <= 0 || ih <= 0 {
		return 0
	}
	inter := float64(iw * ih)
	return inter / (float64(a[2]*a[3]) + float64(b[2]*b[3]) - inter)
}

// ImageScore scores one RSNA image: truth holds its ground-truth boxes (4
// numbers each: x y w h) in holdout order, pred its predictions (5 numbers
// each: confidence x y w h) in submission order. It returns NaN for an image
// with neither (left out of the mean), 0 for predictions without truth, and
// otherwise the mean over Thresholds of TP/(TP+FP+FN), where predictions are
// taken by confidence, highest first, ties in submission order, and each
// truth box takes the first untaken prediction with IoU >= threshold.
// scratch, when not nil, is reused to avoid allocation.
func ImageScore(truth, pred []float64, scratch *Scratch) float64 {
	nt, np := len(truth)/4, len(pred)/5
	if nt == 0 && np == 0 {
		return math.NaN()
	}
	if nt == 0 {
		return 0
	}
	if scratch == nil {
		scratch = &Scratch{}
	}
	order := scratch.order[:0]
	for i := range np {
		order = append(order, i)
	}
	sort.SliceStable(order, func(i, j int) bool { return pred[5*order[i]] > pred[5*order[j]] })
	scratch.order = order
	taken := scratch.taken[:0]
	for range np {
		taken = append(taken, false)
	}
	scratch.taken = taken
	total := 0.0
	for _, t := range Thresholds {
		clear(taken)
		tp, fn := 0, 0
		for g := range nt {
			gb := truth[4*g : 4*g+4]
			hit := false
			for j, k := range order {
				if !taken[j] && IoU(gb, pred[5*k+1:5*k+5]) >= t {
					taken[j] = true
					hit = true
					break
				}
			}
			if hit {
				tp++
			} else {
				fn++
			}
		}
		fp := np - tp
		total += float64(tp) / float64(tp+fp+fn)
	}
	return total / float64(len(Thresholds))
}

// Scratch holds buffers ImageScore reuses between images.
type Scratch struct {
	order []int
	taken []bool
}

// MapIoU scores RSNA images given as Arrow-style lists: image i's truth
// boxes are truthVals[truthOff[i]:truthOff[i+1]] (4 numbers per box) and its
// predictions predVals[predOff[i]:predOff[i+1]] (5 numbers per box). It writes each ImageScore into perUnit
// when not nil and returns the mean over images not left out, or 1 when
// every image is left out.
func MapIoU(truthOff []int32, truthVals []float64, predOff []int32, predVals []float64, perUnit []float64) float64 {
	var s Scratch
	sum, n := 0.0, 0
	for i := 0; i+1 < len(truthOff); i++ {
		v := ImageScore(truthVals[truthOff[i]:truthOff[i+1]], predVals[predOff[i]:predOff[i+1]], &s)
		if perUnit != nil {
			perUnit[i] = v
		}
		if !math.IsNaN(v) {
			sum += v
			n++
		}
	}
	if n == 0 {
		return 1
	}
	return sum / float64(n)
}

// column returns the only column of in with role r, requiring type t.
func column(in abi.Input, r abi.Role, t abi.Type, what string) (*abi.Column, error) {
	var found *abi.Column
	for i := range in.Columns {
		if in.Columns[i].Role == r {
			if found != nil {
				return nil, errors.New("more than one " + what + " column")
			}
			found = &in.Columns[i]
		}
	}
	if found == nil || found.Type != t {
		return nil, errors.New("needs one " + what + " column of type " + typeName(t))
	}
	return found, nil
}

func typeName(t abi.Type) string {
	switch t {
	case abi.Int64:
		return "int64"
	case abi.Float64:
		return "float64"
	case abi.Utf8:
		return "utf8"
	case abi.ListFloat64:
		return "list<float64>"
	}
	return "type " + strconv.Itoa(int(t))
}

// AccuracyMetric is the titanic-survival scorer: one Int64 truth column and
// one Int64 prediction column; primary = accuracy, secondary "correct" = the
// count of correct units, per-unit 1 or 0. Errors are internal (the host
// validated the submission before).
func AccuracyMetric(in abi.Input) (abi.Result, error) {
	truth, err := column(in, abi.Truth, abi.Int64, "truth")
	if err != nil {
		return abi.Result{}, err
	}
	pred, err := column(in, abi.Prediction, abi.Int64, "prediction")
	if err != nil {
		return abi.Result{}, err
	}
	if in.Units == 0 {
		return abi.Result{}, errors.New("no units to score")
	}
	res := abi.NewResult(in.Units)
	res.Primary = Accuracy(truth.Int64, pred.Int64, res.PerUnit)
	res.Secondary = []abi.Named{{Name: "correct", Value: math.Round(res.Primary * float64(in.Units))}}
	return *res, nil
}

// Top1Metric is the cifar-100-classification scorer: top-1 accuracy of one
// Int64 predicted label against one Int64 true label per image, with the
// same outputs as AccuracyMetric.
func Top1Metric(in abi.Input) (abi.Result, error) { return AccuracyMetric(in) }

// MapIoUMetric is the rsna-pneumonia-detection scorer: one ListFloat64 truth
// column (4 numbers per box: x y w h, holdout order) and one ListFloat64
// prediction column (5 numbers per box: confidence x y w h, submission
// order); primary = MapIoU, secondary "images_scored" = images not left out,
// per-unit = ImageScore (NaN for an image left out).
func MapIoUMetric(in abi.Input) (abi.Result, error) {
	truth, err := column(in, abi.Truth, abi.ListFloat64, "truth")
	if err != nil {
		return abi.Result{}, err
	}
	pred, err := column(in, abi.Prediction, abi.ListFloat64, "prediction")
	if err != nil {
		return abi.Result{}, err
	}
	for i := range in.Units {
		if (truth.Offsets[i+1]-truth.Offsets[i])%4 != 0 {
			return abi.Result{}, errors.New("truth boxes need 4 numbers each")
		}
		if (pred.Offsets[i+1]-pred.Offsets[i])%5 != 0 {
			return abi.Result{}, errors.New("predicted boxes need 5 numbers each")
		}
	}
	res := abi.NewResult(in.Units)
	res.Primary = MapIoU(truth.Offsets, truth.Float64, pred.Offsets, pred.Float64, res.PerUnit)
	scored := 0
	for _, v := range res.PerUnit {
		if !math.IsNaN(v) {
			scored++
		}
	}
	res.Secondary = []abi.Named{{Name: "images_scored", Value: float64(scored)}}
	return *res, nil
}
