package metrics

import (
	"errors"
	"math"
	"slices"
	"strconv"

	"github.com/medforge/medforge/engine/abi"
)

// ErrOneClass is returned by ROCAUC when the truth holds only one class:
// the area under the ROC curve is not defined then (sklearn raises
// ValueError in the same case).
var ErrOneClass = errors.New("ROC AUC is not defined: the truth holds only one class")

// ROCAUC returns the area under the ROC curve of scores pred against binary
// truth (each 0 or 1), as sklearn.metrics.roc_auc_score computes it: tied
// scores form one step of the curve, which the trapezoidal rule turns into
// half credit for every (positive, negative) pair with equal scores. It is
// computed exactly, as the Mann-Whitney count of correctly ordered pairs
// (ties count one half) over all pairs, in integers, then divided once; so
// the result is the correctly rounded area. pred must hold no NaN. Scores
// are sorted by a radix sort of their order-preserving bit patterns. truth and
// pred have the same length; scratch, when it has room for 2*len(truth)
// keys, is reused.
func ROCAUC(truth, pred []float64, scratch []uint64) (auc float64, positives, negatives int, err error) {
	n := len(truth)
	pred = pred[:n]
	for _, t := range truth {
		if t == 1 {
			positives++
		} else if t != 0 {
			return 0, 0, 0, errors.New("truth values must be 0 or 1, got " + strconv.FormatFloat(t, 'g', -1, 64))
		}
	}
	negatives = n - positives
	if positives == 0 || negatives == 0 {
		return 0, positives, negatives, ErrOneClass
	}
	keys := scratch[:0]
	if cap(keys) < 2*n {
		keys = make([]uint64, 0, 2*n)
	}
	keys, tmp := keys[:n], keys[n:2*n]
	// Positives' keys first, then negatives', each sorted on its own.
	ip, in := 0, positives
	for i, t := range truth {
		k := orderKey(pred[i])
		if t == 1 {
			keys[ip] = k
			ip++
		} else {
			keys[in] = k
			in++
		}
	}
	pos := radixSort(keys[:positives], tmp[:positives])
	neg := radixSort(keys[positives:], tmp[positives:])
	// For each distinct negative score v (taken in ascending order): twice
	// its pairs = 2*(positives above v) + (positives equal to v).
	var twice uint64
	j := 0 // pos[:j] are < v
	for i := 0; i < len(neg); {
		v := neg[i]
		k := i
		for k < len(neg) && neg[k] == v {
			k++
		}
		for j < len(pos) && pos[j] < v {
			j++
		}
		e := j
		for e < len(pos) && pos[e] == v {
			e++
		}
		above := uint64(len(pos) - e)
		equal := uint64(e - j)
		twice += uint64(k-i) * (2*above + equal)
		i = k
	}
	return float64(twice) / (2 * float64(positives) * float64(negatives)), positives, negatives, nil
}

// orderKey maps a float64 (not NaN) to a uint64 whose unsigned order is
// the float order, with -0 and +0 the same key (equal scores tie).
func orderKey(v float64) uint64 {
	if v == 0 {
		v = 0 // -0 -> +0
	}
	b := math.Float64bits(v)
	if b>>63 == 1 {
		return ^b
	}
	return b | 1<<63
}

// radixSort sorts keys with an LSD radix sort on 16-bit digits (tmp has the
// same length and is scratch), skipping digits every key shares, and
// returns the sorted slice (keys or tmp). In a WebAssembly guest it is
// several times faster than a comparison sort on a million keys.
func radixSort(keys, tmp []uint64) []uint64 {
	if len(keys) < 256 {
		slices.Sort(keys)
		return keys
	}
	counts := make([]uint32, 4<<16)
	for _, k := range keys {
		counts[k&0xffff]++
		counts[1<<16+(k>>16&0xffff)]++
		counts[2<<16+(k>>32&0xffff)]++
		counts[3<<16+(k>>48)]++
	}
	src, dst := keys, tmp
	for d := range 4 {
		c := counts[d<<16 : (d+1)<<16]
		shift := uint(16 * d)
		if c[src[0]>>shift&0xffff] == uint32(len(src)) {
			continue // every key has this digit
		}
		var sum uint32
		for i, v := range c {
			c[i] = sum
			sum += v
		}
		for _, k := range src {
			b := k >> shift & 0xffff
			dst[c[b]] = k
			c[b]++
		}
		src, dst = dst, src
	}
	return src
}

// ROCAUCMetric is the breast-cancer-diagnosis scorer: one Float64 truth
// column (0 or 1 per unit) and one Float64 prediction column (a probability
// in [0, 1]); primary = ROCAUC, secondaries "positives" and "negatives".
// It has no per-unit contributions (the area is not a mean over units), so
// leaderboards show no interval for it. A prediction outside [0, 1] is a
// public error naming the unit's id.
func ROCAUCMetric(in abi.Input) (abi.Result, error) {
	truth, err := column(in, abi.Truth, abi.Float64, "truth")
	if err != nil {
		return abi.Result{}, err
	}
	pred, err := column(in, abi.Prediction, abi.Float64, "prediction")
	if err != nil {
		return abi.Result{}, err
	}
	for i, p := range pred.Float64[:in.Units] {
		if !(p >= 0 && p <= 1) {
			return abi.Result{}, &abi.GuestError{Public: true,
				Message: "predictions must be probabilities in [0, 1]; " + unitName(in, i) + " has " + strconv.FormatFloat(p, 'g', -1, 64)}
		}
	}
	auc, np, nn, err := ROCAUC(truth.Float64[:in.Units], pred.Float64, nil)
	if err != nil {
		return abi.Result{}, err
	}
	if math.IsNaN(auc) {
		return abi.Result{}, errors.New("ROC AUC is NaN")
	}
	return abi.Result{Primary: auc, Secondary: []abi.Named{
		{Name: "positives", Value: float64(np)}, {Name: "negatives", Value: float64(nn)}}}, nil
}

// unitName names unit i by its key (the submission id) when the input
// carries one, else by its position.
func unitName(in abi.Input, i int) string {
	for _, c := range in.Columns {
		if c.Role != abi.Key {
			continue
		}
		switch c.Type {
		case abi.Int64:
			return "id " + strconv.FormatInt(c.Int64[i], 10)
		case abi.Utf8:
			if i+1 < len(c.Offsets) {
				return "id " + strconv.Quote(string(c.Data[c.Offsets[i]:c.Offsets[i+1]]))
			}
		}
	}
	return "unit " + strconv.Itoa(i+1)
}
