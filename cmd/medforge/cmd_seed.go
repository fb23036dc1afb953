package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/medforge/medforge/config"
	"github.com/medforge/medforge/identity"
	"github.com/medforge/medforge/store"
)

// seedEnv is what `medforge seed` hands to each seeder.
type seedEnv struct {
	Config   config.Config
	Store    store.Store
	Identity *identity.Service
	Logger   *slog.Logger
	// Admin is the local admin account seed made sure exists.
	Admin identity.User
	// Out receives the human-readable summary lines.
	Out io.Writer
}

var seeders = hooks[seedEnv]{kind: "seeder"}

// onSeed registers a seeder: call it from init in the capability's own
// cmd/medforge/seed_<name>.go. Seeders run in name order after the local
// admin exists, and must be idempotent (seed runs on every `make run`).
func onSeed(name string, fn func(ctx context.Context, env *seedEnv) error) {
	seeders.add(name, fn)
}

func init() {
	register(command{
		name:  "seed",
		usage: "migrate, create or refresh the local admin, and run every seeder (idempotent)",
		run:   runSeed,
	})
}

func runSeed(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	email := fs.String("admin-email", "", "local admin email (default admin@medforge.<domain>)")
	pwFile := fs.String("admin-password-file", "", "file holding the local admin password; created with a random one when missing (default <run dir>/admin-password)")
	cfg, rest, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return withExit(2, fmt.Errorf("unexpected arguments %q", rest))
	}
	if *email == "" {
		*email = "admin@medforge." + cfg.Domain
	}
	if *pwFile == "" {
		*pwFile = filepath.Join(cfg.RunDir, "admin-password")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	log := newLogger(cfg)
	st, err := openStore(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer st.DB().Close()
	id, err := newIdentity(cfg, st, log)
	if err != nil {
		return err
	}
	password, err := adminPassword(*pwFile)
	if err != nil {
		return err
	}
	admin, err := ensureAdmin(ctx, st, id, *email, password)
	if err != nil {
		return fmt.Errorf("local admin: %w", err)
	}
	fmt.Printf("local admin: %s (password in %s)\n", admin.Email, *pwFile)
	env := &seedEnv{Config: cfg, Store: st, Identity: id, Logger: log, Admin: admin, Out: os.Stdout}
	if name, err := seeders.run(ctx, env); err != nil {
		return fmt.Errorf("seed %s: %w", name, err)
	}
	return nil
}

// adminPassword reads the password file, creating it (mode 0600) with a
// random password when missing.
func adminPassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if pw := strings.TrimSpace(string(b)); pw != "" {
			return pw, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read admin password: %w", err)
	}
	pw := randomPassword()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("admin password dir: %w", err)
	}
	if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write admin password: %w", err)
	}
	return pw, nil
}

// ensureAdmin creates the admin or makes an existing account an admin with
// this password. An admin that is already as wanted is left alone (its
// browser sessions survive a re-run of make run).
func ensureAdmin(ctx context.Context, st store.Store, id *identity.Service, email, password string) (identity.User, error) {
	u, err := id.CreateUser(ctx, identity.NewUser{
		Email: email, Password: password, DisplayName: "Local admin", Role: identity.RoleAdmin,
		CanUseInternal: true, MaxConcurrentSessions: 1,
	})
	if err == nil {
		return u, nil
	}
	if !errors.Is(err, identity.ErrEmailTaken) {
		return u, err
	}
	row, err := st.GetUserByEmail(ctx, identity.NormalizeEmail(email))
	if err != nil {
		return u, fmt.Errorf("look up %s: %w", email, err)
	}
	u = identity.UserFromRow(row)
	if ok, _ := identity.VerifyPassword(password, row.PasswordHash); ok && u.IsAdmin() && u.CanUseInternal {
		return u, nil
	}
	if u, err = id.SetAccess(ctx, u.ID, identity.Access{Role: identity.RoleAdmin, CanUseInternal: true, MaxConcurrentSessions: u.MaxConcurrentSessions}); err != nil {
		return u, err
	}
	return u, id.SetPassword(ctx, u.ID, password)
}
