// Command goreadfile is a hostile Go guest that tries to read a host file;
// os.ReadFile needs path_open, so the sandbox must refuse it at load.
package main

import (
	"os"

	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/scorers/sdk"
)

func init() {
	sdk.Register(func(abi.Input) (abi.Result, error) {
		b, err := os.ReadFile("/etc/passwd")
		if err != nil {
			return abi.Result{}, err
		}
		return abi.Result{Primary: float64(len(b))}, nil
	})
}

func main() {}
