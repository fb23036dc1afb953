package competitions

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"slices"

	"github.com/medforge/medforge/competitions/signif"
)

// BootstrapResamples is how many resamples Bootstrap draws.
const BootstrapResamples = 1000

// Bootstrap returns the 95% percentile bootstrap interval of the mean of
// perUnit (NaN units are left out), drawing BootstrapResamples resamples from
// a SplitMix64 generator seeded by seed. The same inputs always give the same
// interval. ok is false when fewer than two units remain.
func Bootstrap(perUnit []float64, seed uint64) (lo, hi float64, ok bool) {
	vals := make([]float64, 0, len(perUnit))
	for _, v := range perUnit {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			vals = append(vals, v)
		}
	}
	n := len(vals)
	if n < 2 {
		return 0, 0, false
	}
	if a, b, two := signif.TwoValued(vals); two {
		lo, hi = bootstrapBinary(vals, a, b, seed)
		return lo, hi, true
	}
	// SplitMix64: a small, fast, well-mixed generator; the stream is fixed
	// by the seed, so the interval is reproducible across versions of Go.
	rng := signif.SplitMix64(seed)
	means := make([]float64, BootstrapResamples)
	un := uint64(n)
	for b := range means {
		var sum float64
		for range n {
			sum += vals[rng.Index(un)]
		}
		means[b] = sum / float64(n)
	}
	slices.Sort(means)
	return signif.Percentile(means, 0.025), signif.Percentile(means, 0.975), true
}

// bootstrapSeed derives the resampling seed of one score from the digests
// that determine it, so rescoring the same file with the same scorer and
// holdout reproduces the same interval.
func bootstrapSeed(artifact, scorer, holdout string) uint64 {
	h := fnv.New64a()
	for _, s := range []string{artifact, scorer, holdout} {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	return h.Sum64()
}

// bootstrapBinary is Bootstrap for per-unit values that take two values a
// and b (accuracy-like metrics: 0 or 1 per row). The mean of a resample of
// n units is a + (b-a)·X/n with X ~ Binomial(n, share of b), so each
// resample is drawn exactly by inverting that distribution's CDF: O(log n)
// instead of O(n), with the same distribution as resampling units.
func bootstrapBinary(vals []float64, a, b float64, seed uint64) (lo, hi float64) {
	n := len(vals)
	if a == b {
		return a, a
	}
	nb := 0
	for _, v := range vals {
		if v == b {
			nb++
		}
	}
	p := float64(nb) / float64(n)
	cdf := binomialCDF(n, p)
	rng := signif.SplitMix64(seed)
	means := make([]float64, BootstrapResamples)
	for i := range means {
		u := float64(rng.Next()>>11) / (1 << 53)
		k, _ := slices.BinarySearch(cdf, u)
		k = min(k, n)
		means[i] = a + (b-a)*float64(k)/float64(n)
	}
	slices.Sort(means)
	return signif.Percentile(means, 0.025), signif.Percentile(means, 0.975)
}

// binomialCDF returns P(X <= k) for k = 0..n, X ~ Binomial(n, p), 0 < p < 1.
func binomialCDF(n int, p float64) []float64 {
	cdf := make([]float64, n+1)
	lgN, _ := math.Lgamma(float64(n + 1))
	lp, lq := math.Log(p), math.Log1p(-p)
	var sum float64
	for k := 0; k <= n; k++ {
		lk, _ := math.Lgamma(float64(k + 1))
		lnk, _ := math.Lgamma(float64(n - k + 1))
		sum += math.Exp(lgN - lk - lnk + float64(k)*lp + float64(n-k)*lq)
		cdf[k] = sum
	}
	for k := range cdf {
		cdf[k] /= sum // exact to rounding; the last entry is 1
	}
	return cdf
}
