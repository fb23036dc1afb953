// Command build-scorers builds every built-in scorer module from source into
// the folder given as its only argument (scorers/build.sh runs it).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/medforge/medforge/scorers"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: build-scorers OUTDIR")
		os.Exit(2)
	}
	wd, err := os.Getwd()
	if err == nil {
		var root string
		if root, err = scorers.FindRoot(wd); err == nil {
			err = scorers.Build(context.Background(), root, os.Args[1])
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
