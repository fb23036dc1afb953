package signif

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// correctness draws n 0/1 values with P(1) = p.
func correctness(r *rand.Rand, n int, p float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		if r.Float64() < p {
			v[i] = 1
		}
	}
	return v
}

// flip returns a copy of v with k units flipped (0 <-> 1).
func flip(r *rand.Rand, v []float64, k int) []float64 {
	out := append([]float64(nil), v...)
	for _, i := range r.Perm(len(v))[:k] {
		out[i] = 1 - out[i]
	}
	return out
}

func TestIdenticalAndNearlyIdenticalAreTied(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	lead := correctness(r, 418, 0.8)
	twin := append([]float64(nil), lead...)
	near := flip(r, lead, 3) // three predictions differ
	far := correctness(r, 418, 0.55)
	figs, covered := Compare([][]float64{lead, twin, near, far}, Options{Seed: 7, HigherIsBetter: true})
	require.Equal(t, 4, covered)
	require.Equal(t, 1.0, figs[0].PValue)
	require.True(t, figs[0].Tied)
	require.Equal(t, 1.0, figs[1].PValue, "identical submissions never differ in a resample")
	require.True(t, figs[1].Tied)
	require.Zero(t, figs[1].Diff)
	require.True(t, figs[2].Tied, "3 of 418 units apart is not significant: p=%v", figs[2].PValue)
	require.False(t, figs[3].Tied, "0.8 vs 0.55 on 418 units is significant: p=%v", figs[3].PValue)
	require.Less(t, figs[3].PValue, 0.01)
	require.Less(t, figs[3].DiffHigh, 0.0)
	for i, f := range figs {
		require.LessOrEqual(t, f.RankLow, i+1)
		require.GreaterOrEqual(t, f.RankHigh, i+1)
		require.LessOrEqual(t, f.DiffLow, f.DiffHigh)
	}
	require.Equal(t, 4, figs[3].RankLow, "far behind: always last")
}

func TestDeterministicForASeed(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	es := [][]float64{correctness(r, 300, 0.7), correctness(r, 300, 0.68), correctness(r, 300, 0.6)}
	a, _ := Compare(es, Options{Seed: 11, HigherIsBetter: true})
	b, _ := Compare(es, Options{Seed: 11, HigherIsBetter: true})
	for i := range a {
		require.Equal(t, *a[i], *b[i])
	}
}

func TestMinimizeAndNaNUnits(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	n := 500
	lead, other := make([]float64, n), make([]float64, n)
	for i := range lead {
		lead[i] = r.Float64() * 0.5
		other[i] = lead[i] + 0.2 + r.NormFloat64()*0.05
		if i%10 == 0 {
			other[i] = math.NaN() // left out of that entry's mean
		}
	}
	figs, covered := Compare([][]float64{lead, other}, Options{Seed: 1, HigherIsBetter: false})
	require.Equal(t, 2, covered)
	require.Greater(t, figs[1].Diff, 0.15, "worse by about 0.2 (lower is better)")
	require.Less(t, figs[1].PValue, 0.01)
	require.False(t, figs[1].Tied)
}

func TestUnavailableEntries(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	lead := correctness(r, 100, 0.9)
	figs, covered := Compare([][]float64{lead, nil, correctness(r, 99, 0.9)}, Options{Seed: 1, HigherIsBetter: true})
	require.Equal(t, 1, covered)
	require.NotNil(t, figs[0])
	require.Nil(t, figs[1], "no per-unit values")
	require.Nil(t, figs[2], "a different unit count")
	figs, covered = Compare([][]float64{nil, lead}, Options{Seed: 1})
	require.Zero(t, covered, "no leader vector: nothing to compare with")
	require.Nil(t, figs[1])
}

func TestWorkBudgetCoversTheTop(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	es := make([][]float64, 50)
	for i := range es {
		v := make([]float64, 200)
		for u := range v {
			v[u] = r.Float64()
		}
		es[i] = v
	}
	figs, covered := Compare(es, Options{Seed: 1, Resamples: 100, MaxWork: 100 * 200 * 10, HigherIsBetter: true})
	require.Equal(t, 10, covered)
	for i := range figs {
		require.Equal(t, i < 10, figs[i] != nil, "entry %d", i)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	for _, v := range [][]float64{
		{}, {1}, {0, 1, 1, 0, 1, 0, 0, 0, 1}, {0.5, 0.5}, {1, math.NaN(), 0.25}, {math.Inf(1), 0},
		correctness(rand.New(rand.NewPCG(1, 1)), 1000, 0.5),
	} {
		got, err := Decode(Encode(v))
		require.NoError(t, err)
		require.Len(t, got, len(v))
		for i := range v {
			require.True(t, got[i] == v[i] || math.IsNaN(got[i]) && math.IsNaN(v[i]), "unit %d", i)
		}
	}
	require.Len(t, Encode(make([]float64, 1000)), 21+125, "a 0/1 vector is a bitset")
}

func TestDecodeRefusesBadInput(t *testing.T) {
	for name, p := range map[string][]byte{
		"empty":       nil,
		"short":       {'f', 1},
		"unknown":     {'x', 0, 0, 0, 0},
		"float count": {'f', 2, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8},
		"bit count":   append([]byte{'b'}, make([]byte, 20)...)[:20],
		"huge":        {'f', 0xff, 0xff, 0xff, 0xff},
	} {
		_, err := Decode(p)
		require.Error(t, err, name)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode([]float64{0, 1, 1}))
	f.Add(Encode([]float64{0.5, math.NaN()}))
	f.Fuzz(func(t *testing.T, p []byte) {
		v, err := Decode(p)
		if err != nil {
			return
		}
		again, err := Decode(Encode(v))
		require.NoError(t, err)
		require.Len(t, again, len(v))
	})
}

// TestAgreesWithNumpyScipyReference compares Compare with
// ops/reference/paired_bootstrap.py (numpy's generator, scipy.stats.bootstrap)
// on generated per-unit data. The two draw different resamples, so they
// agree within Monte Carlo error, not bit for bit.
func TestAgreesWithNumpyScipyReference(t *testing.T) {
	py := "/usr/bin/python3"
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "ops", "reference", "paired_bootstrap.py")
	if err := exec.Command(py, "-c", "import numpy, scipy").Run(); err != nil {
		if os.Getenv("MEDFORGE_TEST_STRICT") != "" {
			t.Fatalf("numpy/scipy reference unavailable: %v (apt-get install python3-scipy)", err)
		}
		t.Skipf("numpy/scipy reference unavailable: %v", err)
	}
	r := rand.New(rand.NewPCG(42, 43))
	type tc struct {
		name    string
		entries [][]float64
		higher  bool
	}
	binary := correctness(r, 418, 0.78)
	cont := make([]float64, 600)
	for i := range cont {
		cont[i] = r.Float64()
	}
	shift := func(v []float64, d, noise float64) []float64 {
		out := make([]float64, len(v))
		for i := range v {
			out[i] = v[i] + d + r.NormFloat64()*noise
		}
		return out
	}
	cases := []tc{
		{"binary 418 units", [][]float64{binary, flip(r, binary, 4), flip(r, binary, 12), flip(r, binary, 30),
			correctness(r, 418, 0.74), correctness(r, 418, 0.7), correctness(r, 418, 0.6)}, true},
		{"continuous 600 units, minimize", [][]float64{cont, shift(cont, 0.003, 0.05), shift(cont, 0.01, 0.1),
			shift(cont, 0.02, 0.05), shift(cont, 0.1, 0.2)}, false},
	}
	const B = 2000
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, covered := Compare(c.entries, Options{Seed: 99, Resamples: B, HigherIsBetter: c.higher})
			require.Equal(t, len(c.entries), covered)
			body, _ := json.Marshal(map[string]any{"entries": c.entries, "higher_is_better": c.higher, "resamples": B, "seed": 5})
			cmd := exec.Command(py, script)
			cmd.Stdin = bytes.NewReader(body)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			require.NoError(t, err, stderr.String())
			var ref struct {
				Figures []struct {
					PValue    float64  `json:"p_value"`
					Diff      float64  `json:"diff"`
					DiffLow   float64  `json:"diff_low"`
					DiffHigh  float64  `json:"diff_high"`
					RankLow   int      `json:"rank_low"`
					RankHigh  int      `json:"rank_high"`
					Tied      bool     `json:"tied"`
					ScipyLow  *float64 `json:"scipy_low"`
					ScipyHigh *float64 `json:"scipy_high"`
				} `json:"figures"`
			}
			require.NoError(t, json.Unmarshal(out, &ref))
			require.Len(t, ref.Figures, len(c.entries))
			for i, f := range ref.Figures {
				g := got[i]
				width := math.Max(f.DiffHigh-f.DiffLow, 1e-9)
				t.Logf("entry %d: p %.4f vs ref %.4f; diff %.5f [%.5f, %.5f] vs ref [%.5f, %.5f]; ranks [%d, %d] vs [%d, %d]",
					i, g.PValue, f.PValue, g.Diff, g.DiffLow, g.DiffHigh, f.DiffLow, f.DiffHigh, g.RankLow, g.RankHigh, f.RankLow, f.RankHigh)
				require.InDelta(t, f.Diff, g.Diff, 1e-12, "entry %d observed difference", i)
				require.InDelta(t, f.PValue, g.PValue, 0.06, "entry %d p-value", i)
				require.InDelta(t, f.DiffLow, g.DiffLow, 0.12*width, "entry %d interval low", i)
				require.InDelta(t, f.DiffHigh, g.DiffHigh, 0.12*width, "entry %d interval high", i)
				require.InDelta(t, f.RankLow, g.RankLow, 1, "entry %d rank low", i)
				require.InDelta(t, f.RankHigh, g.RankHigh, 1, "entry %d rank high", i)
				if math.Abs(f.PValue-Alpha) > 0.03 {
					require.Equal(t, f.Tied, g.Tied, "entry %d tie", i)
				}
				if f.ScipyLow != nil {
					require.InDelta(t, *f.ScipyLow, g.DiffLow, 0.12*width, "entry %d vs scipy.stats.bootstrap low", i)
					require.InDelta(t, *f.ScipyHigh, g.DiffHigh, 0.12*width, "entry %d vs scipy.stats.bootstrap high", i)
				}
			}
		})
	}
}

// BenchmarkCompareTitanicBoard compares a 10,000-entry board of titanic
// size (293 units, 0/1): the default coverage (top 1000) and, for the
// record of why that is the default, every entry.
func BenchmarkCompareTitanicBoard(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	lead := correctness(r, 293, 0.8)
	es := make([][]float64, 10000)
	for i := range es {
		es[i] = flip(r, lead, 1+i/50)
	}
	for _, c := range []struct {
		name string
		opt  Options
	}{
		{"top1000", Options{Seed: 1, HigherIsBetter: true}},
		{"all10000", Options{Seed: 1, HigherIsBetter: true, MaxEntries: len(es), MaxWork: 1 << 40}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				_, covered := Compare(es, c.opt)
				b.ReportMetric(float64(covered), "covered")
			}
		})
	}
}
