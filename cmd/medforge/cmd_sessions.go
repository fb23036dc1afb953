package main

import (
	"context"
	"fmt"
	"time"

	"github.com/medforge/medforge/sessions/dockerrt"
	"github.com/medforge/medforge/sessions/standin"
)

func init() {
	register(command{
		name:  "standin-image",
		usage: "build the stand-in IDE image from this source tree and print its reference",
		run: func(ctx context.Context, args []string) error {
			rt, err := dockerrt.New(dockerrt.Options{})
			if err != nil {
				return err
			}
			defer rt.Close()
			ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
			defer cancel()
			ref, err := standin.Build(ctx, rt.Client(), "")
			if err != nil {
				return err
			}
			fmt.Println(ref)
			return nil
		},
	})
}
