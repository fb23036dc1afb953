package sandbox

// Benchmarks behind the design in docs/sandbox.md; ops/bench/bench-sandbox.sh
// runs them and prints the ratios.
//
//   BenchmarkMetric1M/*: one medforge_score call on 1M titanic rows (decode,
//   metric, per-unit output), inside WASM (Go and C guests), with and without
//   wazero's WithCloseOnContextDone, against the same Go code run natively;
//   pairs-* alternate native and WASM calls and report the median ratio.
//   BenchmarkScoring/*: a whole scoring of 418 rows (fresh instance, input
//   copy, call, output), in-process against through the worker pool.
//   BenchmarkColdPool: what one `medforge score` process pays for the
//   sandbox: start a pool, load a cached module, score 418 rows, close.

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/scorers"
	"github.com/medforge/medforge/scorers/metrics"
	"github.com/medforge/medforge/scorers/scorertest"
	"github.com/medforge/medforge/scorers/sdk"
)

func titanicInput(n int) *abi.Input {
	ids := make([]byte, 0, 8*n)
	off := make([]int32, 1, n+1)
	truth, pred := make([]int64, n), make([]int64, n)
	for i := range n {
		ids = fmt.Appendf(ids, "%d", 892+i)
		off = append(off, int32(len(ids)))
		truth[i], pred[i] = int64(i%2), int64(i%3%2)
	}
	return &abi.Input{Units: n, Columns: []abi.Column{
		{Name: "PassengerId", Role: abi.Key, Type: abi.Utf8, Offsets: off, Data: ids},
		{Name: "Survived", Role: abi.Truth, Type: abi.Int64, Int64: truth},
		{Name: "Survived", Role: abi.Prediction, Type: abi.Int64, Int64: pred},
	}}
}

func benchRunner(b *testing.B, closeOnDone bool) *runner {
	b.Helper()
	r, err := newRunner(runnerConfig{
		CacheDir: testCacheDir, MemoryLimitBytes: 1 << 30, MaxOutputBytes: 256 << 20,
		CloseOnContextDone: closeOnDone,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(r.close)
	return r
}

func benchLoad(b *testing.B, r *runner, name string) string {
	b.Helper()
	wasm, err := os.ReadFile(scorertest.Build(b, name))
	if err != nil {
		b.Fatal(err)
	}
	if err := r.compile(context.Background(), name, wasm); err != nil {
		b.Fatal(err)
	}
	return name
}

// benchInstance instantiates module d with buf copied into memory the
// module allocated, and returns the instance and the input's address.
func benchInstance(b *testing.B, ctx context.Context, r *runner, d string, buf []byte) (api.Module, uint64) {
	b.Helper()
	mod, err := r.instantiate(ctx, r.modules[d], &boundedBuffer{})
	if err != nil {
		b.Fatal(err)
	}
	res, err := mod.ExportedFunction(abi.AllocExport).Call(ctx, uint64(len(buf)))
	if err != nil {
		b.Fatal(err)
	}
	view, _ := mod.Memory().Read(uint32(res[0]), uint32(len(buf)))
	copy(view, buf)
	return mod, res[0]
}

func BenchmarkMetric1M(b *testing.B) {
	in := titanicInput(1 << 20)
	buf, err := abi.EncodeInput(in)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("native-go", func(b *testing.B) {
		for b.Loop() {
			if out := sdk.Run(metrics.AccuracyMetric, buf); len(out) < 8<<20 {
				b.Fatal("short output")
			}
		}
	})
	for _, g := range []struct{ name, module string }{{"go", scorers.Accuracy}, {"c", scorers.AccuracyC}} {
		// Alternating pairs: each iteration times the native call and the
		// WASM call back to back, so both see the same machine load; the
		// reported ratio is the median of the per-pair ratios.
		b.Run("pairs-"+g.name, func(b *testing.B) {
			r := benchRunner(b, false)
			d := benchLoad(b, r, g.module)
			ctx, cancel := context.WithTimeout(r.wrap(context.Background()), time.Hour)
			defer cancel()
			var ratios []float64
			for b.Loop() {
				b.StopTimer()
				mod, ptr := benchInstance(b, ctx, r, d, buf)
				b.StartTimer()
				t0 := time.Now()
				sdk.Run(metrics.AccuracyMetric, buf)
				t1 := time.Now()
				out, err := mod.ExportedFunction(abi.ScoreExport).Call(ctx, ptr, uint64(len(buf)))
				t2 := time.Now()
				b.StopTimer()
				if err != nil || uint32(out[0]) < 8<<20 {
					b.Fatalf("score: %v", err)
				}
				ratios = append(ratios, float64(t2.Sub(t1))/float64(t1.Sub(t0)))
				mod.Close(ctx)
				b.StartTimer()
			}
			slices.Sort(ratios)
			b.ReportMetric(ratios[len(ratios)/2], "wasm/native")
		})
		for _, closeOnDone := range []bool{false, true} {
			name := "wasm-" + g.name
			if closeOnDone {
				name += "-closeondone"
			}
			b.Run(name, func(b *testing.B) {
				r := benchRunner(b, closeOnDone)
				d := benchLoad(b, r, g.module)
				ctx, cancel := context.WithTimeout(r.wrap(context.Background()), time.Hour)
				defer cancel()
				for b.Loop() {
					b.StopTimer()
					mod, ptr := benchInstance(b, ctx, r, d, buf)
					b.StartTimer()
					out, err := mod.ExportedFunction(abi.ScoreExport).Call(ctx, ptr, uint64(len(buf)))
					b.StopTimer()
					if err != nil || uint32(out[0]) < 8<<20 {
						b.Fatalf("score: %v", err)
					}
					mod.Close(ctx)
					b.StartTimer()
				}
			})
		}
	}
}

func BenchmarkScoring(b *testing.B) {
	for _, rows := range []int{418, 1 << 20} {
		in := titanicInput(rows)
		buf, err := abi.EncodeInput(in)
		if err != nil {
			b.Fatal(err)
		}
		for _, module := range []string{scorers.AccuracyC, scorers.Accuracy} {
			b.Run(fmt.Sprintf("in-process/%s/%d", module, rows), func(b *testing.B) {
				r := benchRunner(b, false)
				d := benchLoad(b, r, module)
				ctx := context.Background()
				for b.Loop() {
					var out []byte
					err := r.score(ctx, d, uint32(len(buf)), func(v []byte) error { copy(v, buf); return nil },
						func() error { return nil }, func(o []byte) error { out = append(out[:0], o...); return nil })
					if err != nil {
						b.Fatal(err)
					}
					if _, err := abi.DecodeOutput(out, rows); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("pool/%s/%d", module, rows), func(b *testing.B) {
				p, err := New(Options{CacheDir: testCacheDir, Workers: 1})
				if err != nil {
					b.Fatal(err)
				}
				defer p.Close()
				wasm, _ := os.ReadFile(scorertest.Build(b, module))
				ctx := context.Background()
				m, err := p.Load(ctx, wasm)
				if err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					if _, err := p.Score(ctx, m, in); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkColdPool(b *testing.B) {
	in := titanicInput(418)
	for _, module := range []string{scorers.AccuracyC, scorers.Accuracy} {
		wasm, err := os.ReadFile(scorertest.Build(b, module))
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		// Warm the on-disk compilation cache, as any run after the first.
		if p, err := New(Options{CacheDir: testCacheDir}); err == nil {
			_, _ = p.Load(ctx, wasm)
			p.Close()
		}
		b.Run(module, func(b *testing.B) {
			for b.Loop() {
				p, err := New(Options{CacheDir: testCacheDir})
				if err != nil {
					b.Fatal(err)
				}
				m, err := p.Load(ctx, wasm)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := p.Score(ctx, m, in); err != nil {
					b.Fatal(err)
				}
				p.Close()
			}
		})
	}
}
