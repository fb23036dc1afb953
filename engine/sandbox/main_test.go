package sandbox

import (
	"os"
	"testing"
)

var testCacheDir string

func TestMain(m *testing.M) {
	MaybeRunWorker()
	dir, err := os.MkdirTemp("", "medforge-sandbox-cache-")
	if err != nil {
		panic(err)
	}
	testCacheDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// SharedTestCacheDir exposes the package's shared compilation cache to the
// external test package.
func SharedTestCacheDir() string { return testCacheDir }

// WorkerPIDs exposes the pool's live worker processes to tests that read
// their /proc entries.
func WorkerPIDs(p *Pool) []int { return p.workerPIDs() }
