// Command gobomb is a hostile Go guest that allocates until the Go runtime
// runs out of the sandbox's memory.
package main

import (
	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/scorers/sdk"
)

var keep [][]byte

func init() {
	sdk.Register(func(abi.Input) (abi.Result, error) {
		for {
			b := make([]byte, 1<<20)
			b[0] = 1
			keep = append(keep, b)
		}
	})
}

func main() {}
