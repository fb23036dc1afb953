package main

import (
	"context"

	"github.com/medforge/medforge/web"
)

// The web UI mounts last ("~web" sorts after every capability's hook name):
// its catch-all answers unknown page paths with an HTML not-found page.
func init() {
	onServe("~web", func(ctx context.Context, env *serveEnv) error {
		_, err := web.Mount(env.Server)
		return err
	})
}
