package routing

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Env lists the routing settings with their defaults and meaning;
// docs/routing.md shows the same table.
var Env = []struct{ Name, Default, Doc string }{
	{"MEDFORGE_ROUTING_RESYNC", "10s", "How often the in-memory route table is rebuilt from the database (a safety net; session changes made by this process apply at once)."},
	{"MEDFORGE_ROUTING_ACTIVITY_FLUSH", "30s", "How often last activity of routed sessions is written for idle culling (one UPDATE per active session per flush)."},
}

// LoadOptions reads Env through lookup (os.LookupEnv when nil) into the
// timing fields of Options; every bad value is reported, each naming its
// variable.
func LoadOptions(lookup func(string) (string, bool)) (Options, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var errs []error
	dur := func(name, def string) time.Duration {
		v := def
		if s, ok := lookup(name); ok && strings.TrimSpace(s) != "" {
			v = strings.TrimSpace(s)
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 100*time.Millisecond {
			errs = append(errs, fmt.Errorf("%s: want a duration of at least 100ms such as 10s, got %q", name, v))
		}
		return d
	}
	o := Options{ResyncEvery: dur(Env[0].Name, Env[0].Default), FlushEvery: dur(Env[1].Name, Env[1].Default)}
	return o, errors.Join(errs...)
}
