package store_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/db"
	"github.com/medforge/medforge/store/testdb"
)

// Migrations apply to an empty database, report their state, and re-running
// them (also concurrently, as serve and worker starting together do) is a
// no-op.
func TestMigrationsFromEmptyAndRerun(t *testing.T) {
	t.Parallel()
	st, _ := testdb.FreshNamed(t, false)
	ctx := testdb.Ctx(t, 2*time.Minute)

	before, err := store.Status(ctx, st.DB())
	if err != nil {
		t.Fatal(err)
	}
	if len(before) < 4 {
		t.Fatalf("only %d migrations embedded", len(before))
	}
	for _, m := range before {
		if m.Applied {
			t.Fatalf("%s applied on an empty database", m.Name)
		}
	}
	var wg sync.WaitGroup
	results := make([][]int64, 3)
	errs := make([]error, 3)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = store.Migrate(ctx, st.DB(), nil)
		}()
	}
	wg.Wait()
	total := 0
	for i := range results {
		if errs[i] != nil {
			t.Fatalf("concurrent migrate %d: %v", i, errs[i])
		}
		total += len(results[i])
	}
	if total != len(before) {
		t.Fatalf("concurrent migrates applied %d migrations in all, want %d (each exactly once)", total, len(before))
	}
	after, err := store.Status(ctx, st.DB())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range after {
		if !m.Applied || m.AppliedAt.IsZero() {
			t.Fatalf("%s not applied after migrate", m.Name)
		}
	}
	again, err := store.Migrate(ctx, st.DB(), nil)
	if err != nil || len(again) != 0 {
		t.Fatalf("re-run applied %v, %v", again, err)
	}
	// The schema works.
	if _, err := st.CreateUser(ctx, db.CreateUserParams{Email: "m@example.org", PasswordHash: "x", Role: db.UsersRoleUser, MaxConcurrentSessions: 1}); err != nil {
		t.Fatal(err)
	}
}

func TestErrorHelpers(t *testing.T) {
	t.Parallel()
	st := testdb.Store(t)
	ctx := testdb.Ctx(t, time.Minute)
	email := testdb.Unique("dup") + "@example.org"
	p := db.CreateUserParams{Email: email, PasswordHash: "x", Role: db.UsersRoleUser, MaxConcurrentSessions: 1}
	if _, err := st.CreateUser(ctx, p); err != nil {
		t.Fatal(err)
	}
	_, err := st.CreateUser(ctx, p)
	if !store.IsDuplicate(err) || store.IsForeignKey(err) {
		t.Fatalf("duplicate email: IsDuplicate false for %v", err)
	}
	_, err = st.CreateAPIToken(ctx, db.CreateAPITokenParams{UserID: 1 << 60, Name: "x", TokenHash: make([]byte, 32)})
	if !store.IsForeignKey(err) {
		t.Fatalf("missing user: IsForeignKey false for %v", err)
	}
	_, err = st.GetUser(ctx, 1<<60)
	if !store.IsNotFound(err) {
		t.Fatalf("IsNotFound false for %v", err)
	}
	tests := []struct {
		name string
		err  error
		is   func(error) bool
		want bool
	}{
		{"wrapped deadlock", fmt.Errorf("claim: %w", &mysql.MySQLError{Number: 1213}), store.IsDeadlock, true},
		{"lock wait", &mysql.MySQLError{Number: 1205}, store.IsLockWaitTimeout, true},
		{"other number", &mysql.MySQLError{Number: 1064}, store.IsDuplicate, false},
		{"plain error", errors.New("Error 1062: Duplicate entry"), store.IsDuplicate, false},
		{"nil", nil, store.IsNotFound, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.is(tc.err); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestInTx(t *testing.T) {
	t.Parallel()
	st := testdb.Store(t)
	ctx := testdb.Ctx(t, time.Minute)
	email := testdb.Unique("tx") + "@example.org"
	boom := errors.New("boom")
	err := st.InTx(ctx, func(tx store.Store) error {
		if _, err := tx.CreateUser(ctx, db.CreateUserParams{Email: email, PasswordHash: "x", Role: db.UsersRoleUser, MaxConcurrentSessions: 1}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx returned %v", err)
	}
	if _, err := st.GetUserByEmail(ctx, email); !store.IsNotFound(err) {
		t.Fatalf("rolled-back row visible: %v", err)
	}
	func() {
		defer func() { _ = recover() }()
		_ = st.InTx(ctx, func(tx store.Store) error {
			_, _ = tx.CreateUser(ctx, db.CreateUserParams{Email: email, PasswordHash: "x", Role: db.UsersRoleUser, MaxConcurrentSessions: 1})
			panic("in tx")
		})
	}()
	if _, err := st.GetUserByEmail(ctx, email); !store.IsNotFound(err) {
		t.Fatalf("row of panicked tx visible: %v", err)
	}
	err = st.InTx(ctx, func(tx store.Store) error {
		id, err := tx.CreateUser(ctx, db.CreateUserParams{Email: email, PasswordHash: "x", Role: db.UsersRoleUser, MaxConcurrentSessions: 1})
		if err != nil {
			return err
		}
		// Nested InTx joins the outer transaction.
		return tx.InTx(ctx, func(inner store.Store) error {
			_, err := inner.LockUser(ctx, id)
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetUserByEmail(ctx, email); err != nil {
		t.Fatalf("committed row missing: %v", err)
	}
}

// Two transactions locking the same user row serialize (the basis of the
// per-user invariants other capabilities build on).
func TestLockUserSerializes(t *testing.T) {
	t.Parallel()
	st := testdb.Store(t)
	ctx := testdb.Ctx(t, time.Minute)
	id, err := st.CreateUser(ctx, db.CreateUserParams{Email: testdb.Unique("lock") + "@example.org", PasswordHash: "x", Role: db.UsersRoleUser, MaxConcurrentSessions: 1})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	inside, maxInside := 0, 0
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := st.InTx(ctx, func(tx store.Store) error {
				if _, err := tx.LockUser(ctx, id); err != nil {
					return err
				}
				mu.Lock()
				inside++
				maxInside = max(maxInside, inside)
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
				mu.Lock()
				inside--
				mu.Unlock()
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if maxInside != 1 {
		t.Fatalf("%d transactions held the user lock at once", maxInside)
	}
}
