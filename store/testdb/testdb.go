// Package testdb gives tests a real, migrated MariaDB database and seed
// factories in the style of Coder's dbgen.
//
// Each test binary (one per package) gets its own database, created on first
// use from MEDFORGE_TEST_DSN (set by `make test`) and migrated with the
// embedded migrations, so packages run in parallel without sharing rows.
// Databases of test binaries that are no longer running are dropped on the
// next run. testdb is for tests only: never import it from production code.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/medforge/medforge/store"
)

// EnvDSN names the variable holding the server DSN (no database name needed).
const EnvDSN = "MEDFORGE_TEST_DSN"

const prefix = "mft_"

var (
	once     sync.Once
	shared   store.Store
	sharedDB string
	initErr  error
)

// DSN returns the test server DSN, failing the test loudly when unset.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		t.Fatalf("%s is not set: run make test or set MEDFORGE_TEST_DSN (e.g. from ops/dev/mariadb.sh dsn)", EnvDSN)
	}
	return dsn
}

// Store returns the package's shared migrated database. Tests using it must
// not assume an empty table: create your own rows with the factories and use
// unique values (the factories do).
func Store(t testing.TB) store.Store {
	t.Helper()
	dsn := DSN(t)
	once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		sharedDB = fmt.Sprintf("%s%d_%s_%s", prefix, os.Getpid(), pkgName(), randHex(3))
		shared, initErr = create(ctx, dsn, sharedDB)
	})
	if initErr != nil {
		t.Fatalf("testdb: %v", initErr)
	}
	return shared
}

// Fresh returns a new, empty-but-migrated database for this test alone,
// dropped when the test ends. Use it when a test needs exclusive tables.
func Fresh(t testing.TB) store.Store {
	t.Helper()
	st, _ := FreshNamed(t, true)
	return st
}

// FreshNamed creates a new database for this test (migrated when migrate is
// true), dropped when the test ends, and returns it with its DSN.
func FreshNamed(t testing.TB, migrate bool) (store.Store, string) {
	t.Helper()
	dsn := DSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := fmt.Sprintf("%s%d_%s_%s", prefix, os.Getpid(), pkgName(), randHex(4))
	var st store.Store
	var err error
	if migrate {
		st, err = create(ctx, dsn, name)
	} else {
		st, err = createEmpty(ctx, dsn, name)
	}
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(func() {
		_ = st.DB().Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := drop(ctx, dsn, name); err != nil {
			t.Logf("testdb: drop %s: %v", name, err)
		}
	})
	return st, WithDatabase(dsn, name)
}

// WithDatabase returns dsn with its database name replaced by name.
func WithDatabase(dsn, name string) string {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return dsn
	}
	cfg.DBName = name
	return cfg.FormatDSN()
}

func createEmpty(ctx context.Context, dsn, name string) (store.Store, error) {
	sweep(ctx, dsn)
	full := WithDatabase(dsn, name)
	if err := store.EnsureDatabase(ctx, full); err != nil {
		return nil, err
	}
	pool, err := store.Open(ctx, full)
	if err != nil {
		return nil, err
	}
	return store.New(pool), nil
}

func create(ctx context.Context, dsn, name string) (store.Store, error) {
	st, err := createEmpty(ctx, dsn, name)
	if err != nil {
		return nil, err
	}
	if _, err := store.Migrate(ctx, st.DB(), nil); err != nil {
		return nil, fmt.Errorf("migrate %s: %w", name, err)
	}
	return st, nil
}

func server(ctx context.Context, dsn string) (*sql.DB, error) {
	cfg, err := store.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg.DBName = ""
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

func drop(ctx context.Context, dsn, name string) error {
	pool, err := server(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	_, err = pool.ExecContext(ctx, "DROP DATABASE IF EXISTS "+store.QuoteIdent(name))
	return err
}

var ownedName = regexp.MustCompile(`^` + prefix + `(\d+)_`)

// sweep drops test databases whose creating process is gone.
func sweep(ctx context.Context, dsn string) {
	pool, err := server(ctx, dsn)
	if err != nil {
		return
	}
	defer pool.Close()
	rows, err := pool.QueryContext(ctx, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'mft\\_%'")
	if err != nil {
		return
	}
	var stale []string
	for rows.Next() {
		var n string
		if rows.Scan(&n) != nil {
			continue
		}
		m := ownedName.FindStringSubmatch(n)
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid > 0 && syscall.Kill(pid, 0) == syscall.ESRCH {
			stale = append(stale, n)
		}
	}
	rows.Close()
	for _, n := range stale {
		_, _ = pool.ExecContext(ctx, "DROP DATABASE IF EXISTS "+store.QuoteIdent(n))
	}
}

func pkgName() string {
	exe := filepath.Base(os.Args[0])
	exe = strings.TrimSuffix(exe, ".test")
	var b strings.Builder
	for _, r := range exe {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
		if b.Len() >= 20 {
			break
		}
	}
	return b.String()
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Ctx returns a context that ends with the test or after d, whichever is first.
func Ctx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
