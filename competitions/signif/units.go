package signif

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Encodings of a per-unit vector (the first byte).
const (
	encTwoValued = 'b' // a, b float64; n uint32; n bits, 1 = b
	encFloat     = 'f' // n uint32; n float64 (NaN kept)
)

// MaxUnits bounds a decoded vector, so a corrupt row cannot make a reader
// allocate without limit.
const MaxUnits = 1 << 26

// Encode packs per-unit contributions compactly: a vector of two finite
// values (0/1 correctness, say) as a bitset, anything else as float64s.
// It never leaves the server; Decode reverses it exactly.
func Encode(v []float64) []byte {
	if a, b, ok := TwoValued(v); ok {
		out := make([]byte, 21+(len(v)+7)/8)
		out[0] = encTwoValued
		binary.LittleEndian.PutUint64(out[1:], math.Float64bits(a))
		binary.LittleEndian.PutUint64(out[9:], math.Float64bits(b))
		binary.LittleEndian.PutUint32(out[17:], uint32(len(v)))
		for i, x := range v {
			if x == b && a != b {
				out[21+i/8] |= 1 << (i % 8)
			}
		}
		return out
	}
	out := make([]byte, 5+8*len(v))
	out[0] = encFloat
	binary.LittleEndian.PutUint32(out[1:], uint32(len(v)))
	for i, x := range v {
		binary.LittleEndian.PutUint64(out[5+8*i:], math.Float64bits(x))
	}
	return out
}

// Decode unpacks Encode's output.
func Decode(p []byte) ([]float64, error) {
	if len(p) < 5 {
		return nil, errors.New("unit scores: too short")
	}
	switch p[0] {
	case encTwoValued:
		if len(p) < 21 {
			return nil, errors.New("unit scores: too short")
		}
		a := math.Float64frombits(binary.LittleEndian.Uint64(p[1:]))
		b := math.Float64frombits(binary.LittleEndian.Uint64(p[9:]))
		n := int(binary.LittleEndian.Uint32(p[17:]))
		if n > MaxUnits || len(p) != 21+(n+7)/8 {
			return nil, fmt.Errorf("unit scores: %d bytes do not hold %d bits", len(p), n)
		}
		v := make([]float64, n)
		for i := range v {
			v[i] = a
			if p[21+i/8]&(1<<(i%8)) != 0 {
				v[i] = b
			}
		}
		return v, nil
	case encFloat:
		n := int(binary.LittleEndian.Uint32(p[1:]))
		if n > MaxUnits || len(p) != 5+8*n {
			return nil, fmt.Errorf("unit scores: %d bytes do not hold %d values", len(p), n)
		}
		v := make([]float64, n)
		for i := range v {
			v[i] = math.Float64frombits(binary.LittleEndian.Uint64(p[5+8*i:]))
		}
		return v, nil
	}
	return nil, fmt.Errorf("unit scores: unknown encoding %q", p[0])
}

// TwoValued reports whether v holds at most two distinct finite values,
// a <= b (a == b when there is one).
func TwoValued(v []float64) (a, b float64, ok bool) {
	if len(v) == 0 {
		return 0, 0, false
	}
	a, b = v[0], v[0]
	for _, x := range v {
		switch {
		case math.IsNaN(x) || math.IsInf(x, 0):
			return 0, 0, false
		case x == a || x == b:
		case a == b && x < a:
			a = x
		case a == b:
			b = x
		default:
			return 0, 0, false
		}
	}
	return a, b, true
}

// Mean is the mean of the non-NaN values of v at idx (all of v when idx is
// nil); ok is false when there are none, or an infinite value.
func Mean(v []float64, idx []int) (m float64, ok bool) {
	if len(v) == 0 {
		return 0, false
	}
	var sum float64
	var n int
	add := func(x float64) bool {
		if math.IsInf(x, 0) {
			return false
		}
		if !math.IsNaN(x) {
			sum += x
			n++
		}
		return true
	}
	if idx == nil {
		for _, x := range v {
			if !add(x) {
				return 0, false
			}
		}
	} else {
		for _, u := range idx {
			if !add(v[u]) {
				return 0, false
			}
		}
	}
	if n == 0 {
		return 0, false
	}
	return sum / float64(n), true
}

// IsMean reports whether primary is the mean of perUnit's non-NaN values
// (to 1e-9 relative): the metric is a mean of per-unit contributions, so
// its per-unit values can be averaged over any part and resampled.
func IsMean(primary float64, perUnit []float64) bool {
	m, ok := Mean(perUnit, nil)
	return ok && math.Abs(m-primary) <= 1e-9*math.Max(1, math.Abs(primary))
}
