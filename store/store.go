package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/medforge/medforge/store/db"
)

// Store is every generated query plus transactions. Implementations are safe
// for concurrent use; a Store handed to an InTx callback is bound to that
// transaction and must not be used after the callback returns.
type Store interface {
	db.Querier
	// InTx runs fn inside one transaction and commits when fn returns nil;
	// any error or panic rolls back. When MariaDB reports a deadlock or a
	// lock wait timeout, the whole fn is retried (up to txAttempts times, with
	// backoff; the one retry layer: callers add none), so fn
	// must not have side effects outside the database. Calling InTx on a
	// Store that is already in a transaction runs fn in that transaction.
	InTx(ctx context.Context, fn func(Store) error) error
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// DB is the underlying pool, for the rare query sqlc cannot express.
	// Inside InTx it is still the pool, not the transaction.
	DB() *sql.DB
}

type sqlStore struct {
	*db.Queries
	pool *sql.DB
	inTx bool
}

var _ Store = (*sqlStore)(nil)

// New wraps an open pool (see Open) in a Store.
func New(pool *sql.DB) Store {
	return &sqlStore{Queries: db.New(pool), pool: pool}
}

func (s *sqlStore) DB() *sql.DB { return s.pool }

func (s *sqlStore) Ping(ctx context.Context) error { return s.pool.PingContext(ctx) }

// txAttempts is how many times InTx runs a transaction that MariaDB chose
// as a deadlock victim or whose lock wait timed out. InTx is the one retry
// layer: callers do not wrap it in retries of their own.
const txAttempts = 6

func (s *sqlStore) InTx(ctx context.Context, fn func(Store) error) error {
	if s.inTx {
		return fn(s)
	}
	var err error
	for attempt := 1; attempt <= txAttempts; attempt++ {
		err = s.runTx(ctx, fn)
		if err == nil || !(IsDeadlock(err) || IsLockWaitTimeout(err)) || ctx.Err() != nil || attempt == txAttempts {
			return err
		}
		// Growing, jittered backoff, so the victims of one deadlock do not
		// collide again in the same order.
		d := time.Duration(attempt*attempt)*5*time.Millisecond + time.Duration(rand.Int64N(int64(10*time.Millisecond)))
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return err
		}
	}
	return err
}

func (s *sqlStore) runTx(ctx context.Context, fn func(Store) error) (err error) {
	tx, err := s.pool.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(&sqlStore{Queries: s.Queries.WithTx(tx), pool: s.pool, inTx: true}); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}

// ErrNoRows is returned by :one queries that match nothing (it is
// sql.ErrNoRows); prefer IsNotFound.
var ErrNoRows = sql.ErrNoRows

// IsNotFound reports whether err means a :one query matched no row.
func IsNotFound(err error) bool { return errors.Is(err, sql.ErrNoRows) }
