package main

import (
	"context"
	"fmt"

	"github.com/medforge/medforge/engine"
)

func init() {
	register(command{
		name:  "version",
		usage: "print the engine version",
		run: func(ctx context.Context, args []string) error {
			fmt.Println(engine.Version)
			return nil
		},
	})
}
