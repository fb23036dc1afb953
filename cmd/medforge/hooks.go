package main

import (
	"context"
	"sort"
)

// hooks is a registry of named hooks that one command runs in name order,
// each with the command's environment E. Hooks register from init, so a
// registry is never touched concurrently.
type hooks[E any] struct {
	// kind names a hook in the duplicate-name panic ("seeder", "serve hook").
	kind string
	list []hook[E]
}

type hook[E any] struct {
	name string
	fn   func(ctx context.Context, env *E) error
}

// add registers fn under name; a second hook with the same name panics.
func (h *hooks[E]) add(name string, fn func(ctx context.Context, env *E) error) {
	for _, x := range h.list {
		if x.name == name {
			panic("medforge: duplicate " + h.kind + " " + name)
		}
	}
	h.list = append(h.list, hook[E]{name, fn})
	sort.Slice(h.list, func(i, j int) bool { return h.list[i].name < h.list[j].name })
}

// run calls every hook in name order and stops at the first error, which
// it returns with the failing hook's name.
func (h *hooks[E]) run(ctx context.Context, env *E) (failed string, err error) {
	for _, x := range h.list {
		if err := x.fn(ctx, env); err != nil {
			return x.name, err
		}
	}
	return "", nil
}
