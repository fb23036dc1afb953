package sandbox_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/engine/sandbox"
	"github.com/medforge/medforge/scorers"
)

// A pool loads a scorer module once and scores aligned inputs with it, each
// scoring in a fresh instance inside a worker process.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Build the C accuracy module from source (make scorers does the same).
	wd, _ := os.Getwd()
	root, _ := scorers.FindRoot(wd)
	dir, _ := os.MkdirTemp("", "example-")
	defer os.RemoveAll(dir)
	if err := scorers.Build(ctx, root, dir, scorers.AccuracyC); err != nil {
		fmt.Println(err)
		return
	}
	wasm, _ := os.ReadFile(filepath.Join(dir, scorers.AccuracyC+".wasm"))

	pool, err := sandbox.New(sandbox.Options{CacheDir: filepath.Join(dir, "cache"), Timeout: 10 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close()
	mod, err := pool.Load(ctx, wasm)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := pool.Score(ctx, mod, &abi.Input{Units: 4, Columns: []abi.Column{
		{Name: "Survived", Role: abi.Truth, Type: abi.Int64, Int64: []int64{0, 1, 0, 1}},
		{Name: "Survived", Role: abi.Prediction, Type: abi.Int64, Int64: []int64{0, 1, 1, 1}},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Primary, res.Secondary, res.PerUnit)
	// Output: 0.75 [{correct 3}] [1 1 0 1]
}
