package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	migrations "github.com/medforge/medforge/sql"
	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/db"
	"github.com/medforge/medforge/store/testdb"
)

// upgradeChildEnv makes the test binary a "newer image" starting up: it
// migrates the database named in the variable with the embedded migrations
// plus testdata/upgrade, at the instant named by upgradeStartEnv, prints an
// upgradeResult and exits.
const (
	upgradeChildEnv = "MEDFORGE_UPGRADE_CHILD_DSN"
	upgradeStartEnv = "MEDFORGE_UPGRADE_START_UNIXNANO"
)

type upgradeResult struct {
	Applied []int64 `json:"applied"`
	Began   int64   `json:"began"` // unix nanos, when Migrate was called
	Elapsed int64   `json:"elapsed_ns"`
	Err     string  `json:"err,omitempty"`
}

func TestMain(m *testing.M) {
	if dsn := os.Getenv(upgradeChildEnv); dsn != "" {
		os.Exit(upgradeChild(dsn))
	}
	os.Exit(m.Run())
}

// newerMigrations is the embedded set plus the test-only migrations of
// sql/upgradetest, numbered after the newest embedded one: what a newer
// image would carry. It returns their versions.
func newerMigrations() (fs.FS, []int64, error) {
	return migrations.WithExtra(migrations.FS, os.DirFS(filepath.Join("..", "sql", "upgradetest")))
}

func upgradeChild(dsn string) int {
	res := upgradeResult{}
	defer func() { _ = json.NewEncoder(os.Stdout).Encode(res) }()
	fail := func(err error) int { res.Err = err.Error(); return 1 }
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fsys, _, err := newerMigrations()
	if err != nil {
		return fail(err)
	}
	pool, err := store.Open(ctx, dsn)
	if err != nil {
		return fail(err)
	}
	defer pool.Close()
	if ns, err := strconv.ParseInt(os.Getenv(upgradeStartEnv), 10, 64); err == nil {
		time.Sleep(time.Until(time.Unix(0, ns)))
	}
	began := time.Now()
	res.Began = began.UnixNano()
	res.Applied, err = store.MigrateFS(ctx, pool, fsys, nil)
	res.Elapsed = int64(time.Since(began))
	if err != nil {
		return fail(err)
	}
	return 0
}

// An upgrade: a database migrated and holding data by the current image is
// opened by two processes of a newer image (the API and the worker)
// starting at the same instant. Every new migration runs exactly once (the
// second, which fails if repeated, included), by one of them; the other
// waits on the migration lock and then finds nothing to do; both start;
// the data survives.
func TestUpgradeRunsOnceAcrossProcesses(t *testing.T) {
	t.Parallel()
	st, dsn := testdb.FreshNamed(t, true)
	ctx := testdb.Ctx(t, 3*time.Minute)
	fsys, added, err := newerMigrations()
	if err != nil || len(added) != 2 {
		t.Fatalf("test migrations: %v, %v", added, err)
	}
	uid, err := st.CreateUser(ctx, db.CreateUserParams{Email: "upgrade@example.org", PasswordHash: "x", Role: db.UsersRoleUser, MaxConcurrentSessions: 1})
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now().Add(2 * time.Second) // both children are connected by then
	results := make([]upgradeResult, 2)
	errs := make(chan error, 2)
	for i := range results {
		go func() {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), upgradeChildEnv+"="+dsn, upgradeStartEnv+"="+strconv.FormatInt(start.UnixNano(), 10))
			cmd.Stderr = os.Stderr
			out, err := cmd.Output()
			if jerr := json.Unmarshal(out, &results[i]); jerr != nil {
				errs <- fmt.Errorf("process %d: %v (output %q, %v)", i, err, out, jerr)
				return
			}
			if err != nil {
				errs <- fmt.Errorf("process %d: %v: %s", i, err, results[i].Err)
				return
			}
			errs <- nil
		}()
	}
	for range results {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}

	var all []int64
	for _, r := range results {
		all = append(all, r.Applied...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if fmt.Sprint(all) != fmt.Sprint(added) {
		t.Fatalf("the two processes applied %v and %v; want %v once in all", results[0].Applied, results[1].Applied, added)
	}
	skew := time.Duration(results[0].Began - results[1].Began).Abs()
	if skew > 500*time.Millisecond {
		t.Fatalf("the processes started %v apart: not together", skew)
	}
	waiter := results[0]
	if len(waiter.Applied) > 0 {
		waiter = results[1]
	}
	if len(waiter.Applied) == 0 && time.Duration(waiter.Elapsed) < 500*time.Millisecond {
		t.Fatalf("the process that applied nothing returned after %v: it did not wait for the other's migration (1 s)", time.Duration(waiter.Elapsed))
	}

	var versions, creates, alters int
	q := func(query string, dst *int) {
		t.Helper()
		if err := st.DB().QueryRowContext(ctx, query).Scan(dst); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	q(fmt.Sprintf("SELECT COUNT(*) FROM goose_db_version WHERE version_id IN (%d, %d)", added[0], added[1]), &versions)
	q("SELECT COUNT(*) FROM upgrade_probe WHERE step = 'create'", &creates)
	q("SELECT COUNT(*) FROM upgrade_probe WHERE step = 'alter'", &alters)
	if versions != 2 || creates != 1 || alters != 1 {
		t.Fatalf("version rows %d, create runs %d, alter runs %d; want 2, 1, 1", versions, creates, alters)
	}
	var email string
	var note *string
	if err := st.DB().QueryRowContext(ctx, "SELECT email, upgrade_note FROM users WHERE id = ?", uid).Scan(&email, &note); err != nil {
		t.Fatalf("the user stored before the upgrade: %v", err)
	}
	if email != "upgrade@example.org" || note != nil {
		t.Fatalf("user after upgrade: %q, %v", email, note)
	}

	// A third start of the newer image (a restart) applies nothing.
	again, err := store.MigrateFS(ctx, st.DB(), fsys, nil)
	if err != nil || len(again) != 0 {
		t.Fatalf("restart applied %v, %v", again, err)
	}
}
