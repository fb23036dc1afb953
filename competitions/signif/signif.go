// Package signif compares leaderboard entries with the leader by a paired
// bootstrap over the holdout's units, and gives each entry a rank interval.
//
// Every entry is resampled with the same units (the same multiset of unit
// indices per resample, drawn from a SplitMix64 stream fixed by the seed),
// so the comparison is paired: two submissions that agree on most units get
// a narrow difference interval even when each score alone is uncertain.
// ops/reference/paired_bootstrap.py is an independent numpy/scipy
// implementation of the same statistics; signif's tests check agreement.
package signif

import (
	"math"
	"math/bits"
	"runtime"
	"slices"
	"sync"
)

// Options configure Compare.
type Options struct {
	// Resamples is the number of bootstrap resamples (default 1000).
	Resamples int
	// Seed fixes the resampled units.
	Seed uint64
	// HigherIsBetter is the competition's direction.
	HigherIsBetter bool
	// MaxWork bounds the work of one comparison, in unit visits (default
	// DefaultMaxWork): entries are covered in rank order while it lasts, so
	// the top of a board always is and a huge board costs bounded time.
	MaxWork int64
	// MaxEntries bounds the covered entries (default DefaultMaxEntries):
	// ranking every resample costs about entries·log(entries).
	MaxEntries int
}

// Defaults of Options: about a tenth of a second of one core for a board
// of a thousand 0/1-valued entries.
const (
	DefaultMaxWork    = 100_000_000
	DefaultMaxEntries = 1000
)

// Alpha is the significance level of the tie group and the intervals.
const Alpha = 0.05

// Figures are one entry's comparison with the leader.
type Figures struct {
	// PValue is the two-sided paired bootstrap p-value of the difference
	// from the leader: twice the smaller share of resamples on either side
	// of zero (capped at 1). The leader's is 1.
	PValue float64
	// Diff is entry minus leader in score units (mean of per-unit
	// contributions), DiffLow and DiffHigh its 95% percentile interval.
	Diff, DiffLow, DiffHigh float64
	// RankLow and RankHigh are the 2.5th and 97.5th percentiles of the
	// entry's rank among the covered entries over the resamples, widened to
	// include its observed rank.
	RankLow, RankHigh int
	// Tied: the difference from the leader is not significant at Alpha
	// (PValue >= Alpha). The leader is tied with itself.
	Tied bool
}

// Compare compares each entry with entries[0], the leader. entries are in
// rank order (ranks are 1..n in that order) and hold each entry's per-unit
// contributions over the same units (NaN: the unit is left out of that
// entry's mean); nil marks an entry without them. It returns each entry's
// figures (nil for an entry without per-unit values, with a different unit
// count, or beyond MaxWork) and how many entries were covered. Without a
// leader vector nothing is covered.
func Compare(entries [][]float64, opt Options) ([]*Figures, int) {
	out := make([]*Figures, len(entries))
	if len(entries) == 0 || len(entries[0]) == 0 {
		return out, 0
	}
	if opt.Resamples <= 0 {
		opt.Resamples = 1000
	}
	if opt.MaxWork <= 0 {
		opt.MaxWork = DefaultMaxWork
	}
	if opt.MaxEntries <= 0 {
		opt.MaxEntries = DefaultMaxEntries
	}
	n := len(entries[0])
	B := opt.Resamples
	w := drawWeights(n, B, opt.Seed)
	cov := pickCovered(entries, w, n, opt)
	if len(cov) == 0 || cov[0].idx != 0 {
		return out, 0
	}
	S := resampleAll(cov, w)
	sign := 1.0 // orientation: smaller key ranks better
	if opt.HigherIsBetter {
		sign = -1
	}
	ranks := rankResamples(S, B, sign)
	rankAt := func(k, q int) int {
		r := ranks[k*B : (k+1)*B]
		slices.Sort(r)
		return int(r[q])
	}

	lead := S[0]
	leadObs := cov[0].prep.mean
	d := make([]float64, B)
	for k, c := range cov {
		f := &Figures{Diff: c.prep.mean - leadObs}
		var le, ge int
		for b := range B {
			d[b] = S[k][b] - lead[b]
			if d[b] <= 0 {
				le++
			}
			if d[b] >= 0 {
				ge++
			}
		}
		f.PValue = math.Min(1, 2*float64(min(le, ge))/float64(B))
		if k == 0 {
			f.PValue = 1
		}
		slices.Sort(d)
		f.DiffLow, f.DiffHigh = Percentile(d, Alpha/2), Percentile(d, 1-Alpha/2)
		f.Tied = f.PValue >= Alpha
		lo := rankAt(k, int(math.Floor(Alpha/2*float64(B-1))))
		hi := rankAt(k, int(math.Ceil((1-Alpha/2)*float64(B-1))))
		obs := k + 1
		f.RankLow, f.RankHigh = min(lo, obs), max(hi, obs)
		out[c.idx] = f
	}
	return out, len(cov)
}

// covered is an entry that Compare covers: its index and its prepared
// per-unit values.
type covered struct {
	idx  int
	prep prepared
}

// pickCovered picks the covered entries, in rank order, within the work
// budget: entries with n per-unit values, until MaxWork or MaxEntries.
func pickCovered(entries [][]float64, w *weights, n int, opt Options) []covered {
	var cov []covered
	var work int64
	for i, x := range entries {
		if len(x) != n {
			continue
		}
		p := prepare(x, w)
		cost := int64(opt.Resamples) * p.cost()
		if len(cov) > 0 && (work+cost > opt.MaxWork || len(cov) >= opt.MaxEntries) {
			break
		}
		work += cost
		cov = append(cov, covered{i, p})
	}
	return cov
}

// resampleAll computes the resampled scores S[k][b] of the covered entries,
// in parallel over entries.
func resampleAll(cov []covered, w *weights) [][]float64 {
	S := make([][]float64, len(cov))
	var wg sync.WaitGroup
	next := make(chan int, len(cov))
	for k := range cov {
		next <- k
	}
	close(next)
	for range max(1, min(runtime.GOMAXPROCS(0), len(cov))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				S[k] = cov[k].prep.resampled(w)
			}
		}()
	}
	wg.Wait()
	return S
}

// rankResamples ranks the entries within each of the B resamples (smaller
// sign*score ranks better); entry k's ranks are at [k*B:(k+1)*B].
// Resamples are ranked in tiles of 64 and each tile's ranks copied to the
// entries' rows, so both the reads of S and the writes of ranks run along
// memory.
func rankResamples(S [][]float64, B int, sign float64) []int32 {
	K := len(S)
	ranks := make([]int32, K*B)
	const tile = 64
	keys := make([]float64, K)
	sorted := make([]float64, K)
	buf := make([]int32, tile*K)
	for b0 := 0; b0 < B; b0 += tile {
		n := min(tile, B-b0)
		for t := range n {
			for k := range S {
				keys[k] = sign * S[k][b0+t]
			}
			copy(sorted, keys)
			slices.Sort(sorted)
			for k := range S {
				r, _ := slices.BinarySearch(sorted, keys[k]) // entries strictly better
				buf[t*K+k] = int32(r + 1)
			}
		}
		for k := range S {
			row := ranks[k*B+b0 : k*B+b0+n]
			for t := range n {
				row[t] = buf[t*K+k]
			}
		}
	}
	return ranks
}

// Percentile of sorted xs by linear interpolation between closest ranks
// (numpy's default "linear" method).
func Percentile(xs []float64, p float64) float64 {
	pos := p * float64(len(xs)-1)
	i := int(pos)
	if i >= len(xs)-1 {
		return xs[len(xs)-1]
	}
	f := pos - float64(i)
	return xs[i]*(1-f) + xs[i+1]*f
}

// weights are the resamples: count[b][u] is how often unit u was drawn in
// resample b (n draws with replacement), and planes[b] the same counts as
// bit planes (plane j holds bit j of every count) for two-valued entries.
type weights struct {
	n, B   int
	count  [][]uint16
	planes [][][]uint64
	words  int
}

// SplitMix64 stream; Lemire's multiply-shift maps 64 bits to [0, n).
func drawWeights(n, B int, seed uint64) *weights {
	w := &weights{n: n, B: B, count: make([][]uint16, B), planes: make([][][]uint64, B), words: (n + 63) / 64}
	rng := SplitMix64(seed)
	un := uint64(n)
	for b := range B {
		c := make([]uint16, n)
		var top uint16
		for range n {
			hi := rng.Index(un)
			c[hi]++
			top = max(top, c[hi])
		}
		w.count[b] = c
		np := bits.Len16(top)
		pl := make([][]uint64, np)
		for j := range pl {
			pl[j] = make([]uint64, w.words)
		}
		for u, v := range c {
			for j := 0; v != 0; j, v = j+1, v>>1 {
				if v&1 != 0 {
					pl[j][u/64] |= 1 << (u % 64)
				}
			}
		}
		w.planes[b] = pl
	}
	return w
}

// prepared is one entry ready for resampling.
type prepared struct {
	x    []float64
	mean float64 // observed: mean over units that are not NaN
	// two-valued entries (no NaN): value a or b, bits set where b.
	two   bool
	a, b  float64
	bits  []uint64
	words int
}

func prepare(x []float64, w *weights) prepared {
	p := prepared{x: x, words: w.words}
	var sum float64
	var cnt int
	for _, v := range x {
		if !math.IsNaN(v) {
			sum += v
			cnt++
		}
	}
	p.mean = math.NaN()
	if cnt > 0 {
		p.mean = sum / float64(cnt)
	}
	if a, b, ok := TwoValued(x); ok {
		p.two, p.a, p.b = true, a, b
		p.bits = make([]uint64, w.words)
		for u, v := range x {
			if v == b && a != b {
				p.bits[u/64] |= 1 << (u % 64)
			}
		}
	}
	return p
}

// cost is the unit visits of one resample.
func (p prepared) cost() int64 {
	if p.two {
		return int64(4 * p.words) // about four bit planes per resample
	}
	return int64(len(p.x))
}

// resampled returns the entry's mean in every resample; a resample that
// drew none of its valid units counts its observed mean.
func (p prepared) resampled(w *weights) []float64 {
	out := make([]float64, w.B)
	if p.two {
		for b := range w.B {
			var c uint64
			for j, pl := range w.planes[b] {
				var s int
				for i, word := range pl {
					s += bits.OnesCount64(word & p.bits[i])
				}
				c += uint64(s) << j
			}
			out[b] = p.a + (p.b-p.a)*float64(c)/float64(w.n)
		}
		return out
	}
	for b := range w.B {
		var sum, cnt float64
		for u, c := range w.count[b] {
			if c != 0 && !math.IsNaN(p.x[u]) {
				sum += float64(c) * p.x[u]
				cnt += float64(c)
			}
		}
		if cnt == 0 {
			out[b] = p.mean
		} else {
			out[b] = sum / cnt
		}
	}
	return out
}
