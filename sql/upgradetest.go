//go:build upgradetest

package migrations

import (
	"embed"
	"io/fs"
)

// A binary built with the upgradetest tag carries the test-only
// migrations of upgradetest/ after the real ones: make test-stack starts
// it as a "newer image" against a stack the current image migrated (the
// API and the worker together) and checks each runs once. Never released.

//go:embed upgradetest/*.sql
var upgradeFiles embed.FS

func init() {
	extra, err := fs.Sub(upgradeFiles, "upgradetest")
	if err != nil {
		panic(err)
	}
	if FS, _, err = WithExtra(FS, extra); err != nil {
		panic(err)
	}
}
