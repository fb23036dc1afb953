package signif

import "math/bits"

// SplitMix64 is the one random stream of every bootstrap in MedForge: a
// small, fast, well-mixed generator whose output is fixed by its seed, so
// intervals and paired comparisons are reproducible across Go versions and
// machines. The zero value is a valid stream (seed 0).
type SplitMix64 uint64

// Next returns the stream's next 64 random bits.
func (s *SplitMix64) Next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Index returns an index in [0, n) from the next 64 random bits (Lemire's
// multiply-shift, without the rejection step: the bias is below n/2^64).
func (s *SplitMix64) Index(n uint64) uint64 {
	hi, _ := bits.Mul64(s.Next(), n)
	return hi
}
