package main

import (
	"context"

	"github.com/medforge/medforge/httpapi"
	"github.com/medforge/medforge/identity"
	"github.com/medforge/medforge/identity/httpadmin"
	"github.com/medforge/medforge/identity/httpidentity"
)

func init() {
	onServe("identity", func(ctx context.Context, env *serveEnv) error {
		mountIdentity(env.Server, env.Identity)
		return nil
	})
}

// mountIdentity puts identity's endpoints (sign-in, tokens, the admins'
// account routes) on srv. The OpenAPI golden test
// mounts through it too, so the document it checks is the one serve answers.
func mountIdentity(srv *httpapi.Server, id *identity.Service) {
	httpidentity.Mount(srv, id)
	httpadmin.Mount(srv, id)
}
