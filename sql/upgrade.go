package migrations

import (
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"testing/fstest"
)

// WithExtra returns base plus the files of extra, named N_name.sql and
// renumbered, in the order of N, after the newest version in base: the
// migrations of a "newer image", for upgrade tests only
// (store.TestUpgradeRunsOnceAcrossProcesses, and make test-stack's binary
// built with the upgradetest tag). It returns the new versions.
func WithExtra(base, extra fs.FS) (fs.FS, []int64, error) {
	out := fstest.MapFS{}
	var newest int64
	names, err := fs.Glob(base, "*.sql")
	if err != nil {
		return nil, nil, err
	}
	for _, n := range names {
		b, err := fs.ReadFile(base, n)
		if err != nil {
			return nil, nil, err
		}
		out[n] = &fstest.MapFile{Data: b}
		v, _, _ := strings.Cut(n, "_")
		if iv, err := strconv.ParseInt(v, 10, 64); err == nil && iv > newest {
			newest = iv
		}
	}
	extras, err := fs.Glob(extra, "*.sql")
	if err != nil {
		return nil, nil, err
	}
	var added []int64
	for _, n := range extras { // Glob sorts: 1_..., 2_...
		b, err := fs.ReadFile(extra, n)
		if err != nil {
			return nil, nil, err
		}
		_, name, ok := strings.Cut(path.Base(n), "_")
		if !ok {
			return nil, nil, fmt.Errorf("extra migration %s: want N_name.sql", n)
		}
		v := newest + int64(len(added)) + 1
		out[fmt.Sprintf("%05d_%s", v, name)] = &fstest.MapFile{Data: b}
		added = append(added, v)
	}
	return out, added, nil
}
