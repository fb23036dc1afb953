package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/medforge/medforge/store"
)

func init() {
	register(command{
		name:  "migrate",
		usage: "apply (up) or list (status) database migrations",
		run:   runMigrate,
	})
}

func runMigrate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), "usage: medforge migrate [flags] up|status") }
	cfg, rest, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 || (rest[0] != "up" && rest[0] != "status") {
		fs.Usage()
		return withExit(2, errors.New("want exactly one of: up, status"))
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	st, err := openStore(ctx, cfg, nil, false)
	if err != nil {
		return err
	}
	defer st.DB().Close()
	if rest[0] == "up" {
		applied, err := store.Migrate(ctx, st.DB(), nil)
		for _, v := range applied {
			fmt.Printf("applied %05d\n", v)
		}
		if err != nil {
			return err
		}
		if len(applied) == 0 {
			fmt.Println("schema is current")
		}
		return nil
	}
	list, err := store.Status(ctx, st.DB())
	if err != nil {
		return err
	}
	pending := 0
	for _, m := range list {
		state := "pending"
		if m.Applied {
			state = "applied " + m.AppliedAt.UTC().Format(time.RFC3339)
		} else {
			pending++
		}
		fmt.Printf("%05d  %-40s %s\n", m.Version, m.Name, state)
	}
	fmt.Printf("%d migrations, %d pending\n", len(list), pending)
	return nil
}
