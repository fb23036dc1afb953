package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/medforge/medforge/config"
	"github.com/medforge/medforge/httpapi"
	"github.com/medforge/medforge/identity"
	"github.com/medforge/medforge/store"
)

// loadConfig reads MEDFORGE_* settings and the command's flags (fs already
// holds the command's own flags) and validates them. A bad setting exits 2
// with a message naming it.
func loadConfig(fs *flag.FlagSet, args []string) (config.Config, []string, error) {
	cfg, rest, err := config.Load(os.LookupEnv, fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return cfg, rest, withExit(0, errors.New("")) // usage already printed
	}
	if err != nil {
		return cfg, rest, withExit(2, err)
	}
	return cfg, rest, nil
}

// openStore creates the database when missing, connects, and (when migrate
// is true) applies pending migrations.
func openStore(ctx context.Context, cfg config.Config, log *slog.Logger, migrate bool) (store.Store, error) {
	if err := store.EnsureDatabase(ctx, cfg.DSN); err != nil {
		return nil, fmt.Errorf("%w (check MEDFORGE_DSN; for a local run start the database with `make db`)", err)
	}
	pool, err := store.Open(ctx, cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("%w (check MEDFORGE_DSN)", err)
	}
	if migrate {
		applied, err := store.Migrate(ctx, pool, nil)
		if err != nil {
			_ = pool.Close()
			return nil, err
		}
		if len(applied) > 0 && log != nil {
			log.Info("migrations applied", "versions", applied)
		}
	}
	return store.New(pool), nil
}

func newLogger(cfg config.Config) *slog.Logger { return httpapi.NewLogger(cfg.LogLevel) }

func newIdentity(cfg config.Config, st store.Store, log *slog.Logger) (*identity.Service, error) {
	opt := identity.OptionsFromConfig(cfg)
	opt.Logger = log
	return identity.NewService(st, opt)
}
