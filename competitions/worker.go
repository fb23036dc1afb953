package competitions

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"sync"
	"time"

	"github.com/medforge/medforge/internal/text"

	"github.com/medforge/medforge/competitions/signif"
	"github.com/medforge/medforge/engine"
	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/db"
)

// WorkerOptions configure a Worker. Zero values take the defaults given.
type WorkerOptions struct {
	// Name identifies the worker in leases and logs (default host:pid).
	Name string
	// Concurrency is how many submissions it scores at once (default 2).
	Concurrency int
	// Lease is how long a claim lasts without renewal (default 30s); a
	// worker renews it every Lease/3 while it scores. A crashed worker's
	// submissions are claimable again once their lease passes.
	Lease time.Duration
	// Poll is how often an idle worker looks for work queued by other
	// processes (default 250ms). Work queued in this process wakes it at once.
	Poll time.Duration
	// MaxAttempts bounds claims of one submission that end in an
	// infrastructure error before it is marked failed (default 5).
	MaxAttempts int
	// Health, when set, receives nil after each healthy loop turn and the
	// error of a failed one.
	Health func(error)
}

// Worker scores queued submissions. Several workers, in one process or on
// several hosts, share the queue safely.
type Worker struct {
	s    *Service
	opts WorkerOptions
}

// NewWorker returns a worker of s.
func (s *Service) NewWorker(opts WorkerOptions) *Worker {
	if opts.Name == "" {
		host, _ := os.Hostname()
		opts.Name = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 2
	}
	if opts.Lease <= 0 {
		opts.Lease = 30 * time.Second
	}
	if opts.Poll <= 0 {
		opts.Poll = 250 * time.Millisecond
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	return &Worker{s: s, opts: opts}
}

// Run scores submissions with Concurrency loops until ctx ends. It returns
// nil on cancellation; a claimed submission whose scoring is cut short is
// released for another worker.
func (w *Worker) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i := range w.opts.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop(ctx, i)
		}()
	}
	wg.Wait()
	return nil
}

func (w *Worker) loop(ctx context.Context, _ int) {
	backoff := w.opts.Poll
	for ctx.Err() == nil {
		wake := w.s.wake.Wait()
		did, err := w.RunOnce(ctx)
		if w.opts.Health != nil && ctx.Err() == nil {
			w.opts.Health(err)
		}
		if err != nil && ctx.Err() == nil {
			w.s.log.Error("scoring worker", "worker", w.opts.Name, "err", err.Error())
			backoff = min(backoff*2, 10*time.Second)
		} else {
			backoff = w.opts.Poll
		}
		if did && err == nil {
			continue
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// RunOnce runs the oldest claimable sandbox job (scorer validation or a
// certification report), or else claims and scores the oldest claimable
// submission (new ones before rescorings). It reports whether there was one.
func (w *Worker) RunOnce(ctx context.Context) (bool, error) {
	// Sandbox jobs first: an author or admin is waiting on each.
	if did, err := w.runSandboxJob(ctx); did || err != nil {
		return did, err
	}
	cl, err := w.claim(ctx, 0)
	if err != nil || cl == nil {
		return false, err
	}
	return true, w.run(ctx, cl)
}

// run processes a claim; when that fails with the lease still held (a
// database error while recording the outcome), the lease is released so
// that the submission is retried now, not when the lease runs out.
func (w *Worker) run(ctx context.Context, cl *claimed) error {
	err := w.process(ctx, cl)
	if err != nil && !errors.Is(err, errLeaseLost) {
		if rerr := w.release(cl, err); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	return err
}

// claimed is a leased submission.
type claimed struct {
	sub   db.Submission
	token string
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// claim leases the next claimable submission, or submission id when id > 0
// (queuing it for rescoring when it is idle). It returns nil, nil when there
// is nothing to do.
func (w *Worker) claim(ctx context.Context, id int64) (*claimed, error) {
	var cl *claimed
	err := w.s.st.InTx(ctx, func(tx store.Store) error {
		cl = nil
		now := w.s.now().UTC()
		pick := id
		if id > 0 {
			cur, err := tx.LockSubmission(ctx, id)
			if store.IsNotFound(err) {
				return ErrNotFound
			}
			if err != nil {
				return err
			}
			if cur.Pending != pendingNone && cur.LeaseUntil.Valid && cur.LeaseUntil.Time.After(now) {
				return ErrBusy
			}
			if cur.Pending == pendingNone {
				if _, err := tx.RequeueSubmission(ctx, db.RequeueSubmissionParams{ID: id}); err != nil {
					return err
				}
			}
		} else {
			for _, kind := range []int8{pendingNow, pendingNew, pendingRescore} {
				got, err := tx.NextClaimableSubmission(ctx, db.NextClaimableSubmissionParams{Pending: kind, Now: timeArg(now)})
				if store.IsNotFound(err) {
					continue
				}
				if err != nil {
					return fmt.Errorf("find work: %w", err)
				}
				pick = got
				break
			}
			if pick == 0 {
				return nil
			}
		}
		token := newToken()
		n, err := tx.LeaseSubmission(ctx, db.LeaseSubmissionParams{
			ID: pick, LeaseOwner: text.Truncate(w.opts.Name, 128), LeaseToken: token, LeaseUntil: timeArg(now.Add(w.opts.Lease)),
		})
		if err != nil {
			return fmt.Errorf("lease submission %d: %w", pick, err)
		}
		if n == 0 {
			return nil
		}
		sub, err := tx.GetSubmission(ctx, pick)
		if err != nil {
			return fmt.Errorf("read submission %d: %w", pick, err)
		}
		cl = &claimed{sub: sub, token: token}
		return nil
	})
	return cl, err
}

func timeArg(t time.Time) sqlNullTime { return sqlNullTime{Time: t, Valid: true} }

var errLeaseLost = errors.New("lease lost to another worker")

// ScoreNow scores (or rescores) one submission and returns it. The new
// score becomes official atomically; the same scorer and holdout digests
// reuse the existing score row. ErrBusy when another worker holds it.
//
// A service with Deps.SandboxJobs (the API server) runs no module: it
// moves the submission to the front of the scoring queue (pending 3,
// before new submissions and rescorings), which any scoring worker
// claims, and waits for the outcome up to the request's wait (JobWait);
// still queued or scoring after that, it returns a *ScorePendingError.
// Otherwise w claims and scores it in this process.
func (s *Service) ScoreNow(ctx context.Context, w *Worker, id int64) (Submission, error) {
	if s.sandboxJobs {
		return s.scoreNowInWorker(ctx, id)
	}
	cl, err := w.claim(ctx, id)
	if err != nil {
		return Submission{}, err
	}
	if cl == nil {
		return Submission{}, ErrBusy
	}
	if err := w.run(ctx, cl); err != nil {
		return Submission{}, err
	}
	return s.GetSubmission(ctx, Viewer{Admin: true, Internal: true}, id)
}

// ScorePendingError says an admin's score now was queued for a scoring
// worker and is not done within the request's wait. Submission is its
// state then; GET /admin/submissions/{id} shows it done once rescoring is
// false and status is scored or failed.
type ScorePendingError struct{ Submission Submission }

func (e *ScorePendingError) Error() string {
	return fmt.Sprintf("submission %d is queued for scoring in a scoring worker", e.Submission.ID)
}

// scoreNowInWorker is ScoreNow of a service with Deps.SandboxJobs.
func (s *Service) scoreNowInWorker(ctx context.Context, id int64) (Submission, error) {
	admin := Viewer{Admin: true, Internal: true}
	err := s.st.InTx(ctx, func(tx store.Store) error {
		cur, err := tx.LockSubmission(ctx, id)
		if store.IsNotFound(err) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if cur.Pending != pendingNone && cur.LeaseUntil.Valid && cur.LeaseUntil.Time.After(s.now().UTC()) {
			return ErrBusy
		}
		// A new submission not yet claimed stays new: it is already
		// ahead of every rescoring.
		_, err = tx.ScoreSubmissionNow(ctx, id)
		return err
	})
	if err != nil {
		return Submission{}, err
	}
	s.wake.Notify()
	deadline := time.Now().Add(s.jobWait(ctx))
	for {
		row, err := s.st.GetSubmission(ctx, id)
		if err != nil {
			return Submission{}, fmt.Errorf("read submission %d: %w", id, err)
		}
		if row.Pending == pendingNone {
			return s.GetSubmission(ctx, admin, id)
		}
		if !time.Now().Before(deadline) {
			sub, err := s.GetSubmission(ctx, admin, id)
			if err != nil {
				return Submission{}, err
			}
			return Submission{}, &ScorePendingError{Submission: sub}
		}
		t := time.NewTimer(min(100*time.Millisecond, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return Submission{}, ctx.Err()
		case <-t.C:
		}
	}
}

// process scores a claimed submission and records the outcome.
func (w *Worker) process(ctx context.Context, cl *claimed) error {
	s := w.s
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := w.heartbeat(sctx, cancel, cl)
	defer stop()

	c, err := s.st.GetCompetition(ctx, cl.sub.CompetitionID)
	if err != nil {
		return w.retryLater(ctx, cl, fmt.Errorf("competition of submission %d: %w", cl.sub.ID, err))
	}
	h, herr := s.holdoutOf(ctx, c)
	m, merr := s.scorerOf(ctx, c)
	if errors.Is(herr, ErrNotOpen) || errors.Is(merr, ErrNotOpen) {
		return w.fail(ctx, cl, c, "the competition has no scorer or holdout yet", "competition not open")
	}
	if err := errors.Join(herr, merr); err != nil {
		return w.retryLater(ctx, cl, err)
	}
	// A score with these digests can exist only when the submission was
	// scored before (a rescoring, or a retry); then it is reused unrun.
	if cl.sub.Pending != pendingNew || cl.sub.Attempts > 1 {
		if existing, err := s.st.GetSubmissionScoreByDigests(ctx, db.GetSubmissionScoreByDigestsParams{
			SubmissionID: cl.sub.ID, ScorerDigest: m.Digest, HoldoutDigest: h.Digest,
		}); err == nil {
			return w.finish(ctx, cl, c, [2]int64{m.ID, h.ID}, &existing, nil)
		} else if !store.IsNotFound(err) {
			return w.retryLater(ctx, cl, err)
		}
	}
	start := time.Now()
	var res *engine.Result
	var split *SplitResult
	sp, splitMode := splitOf(c)
	if splitMode {
		split, err = w.scoreSplit(sctx, cl, h, m, sp)
	} else {
		res, err = w.score(sctx, cl, h, m)
	}
	dur := time.Since(start)
	if err != nil {
		return w.scoringFailed(ctx, sctx, cl, c, err)
	}
	if splitMode {
		res = &engine.Result{PrimaryScore: split.Public.Primary, Secondary: namedMap(split.Public.Secondary), EngineVersion: engine.Version}
		// The parts' scores are computed here from per-unit values, not
		// by the engine's run: check them too.
		for _, v := range []float64{split.Public.Primary, split.Private.Primary} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return w.fail(ctx, cl, c, "the scorer failed on this submission; an admin can see the details",
					fmt.Sprintf("scorer returned a non-finite primary score %v", v))
			}
		}
	}
	row := scoreRow(cl, h, m, res, dur)
	seed := bootstrapSeed(cl.sub.ArtifactSha256, m.Digest, h.Digest)
	if !splitMode {
		addWholeStats(&row, res, seed)
	} else {
		addSplitStats(&row, split, sp, seed)
	}
	return w.finish(ctx, cl, c, [2]int64{m.ID, h.ID}, nil, &row)
}

// scoringFailed records the outcome of a scoring run that returned err:
// on shutdown (ctx done) the claim is released for another worker; a lost
// lease (sctx done alone) returns errLeaseLost and records nothing; scorer
// errors and submissions that no longer match the holdout fail the
// submission (public scorer messages are shown, others only to admins);
// anything else is retried later.
func (w *Worker) scoringFailed(ctx, sctx context.Context, cl *claimed, c db.Competition, err error) error {
	if ctx.Err() != nil {
		// Shutting down: hand the work to another worker.
		return w.release(cl, ctx.Err())
	}
	if sctx.Err() != nil {
		return errLeaseLost
	}
	var se *ScorerError
	var ie *InvalidError
	switch {
	case errors.As(err, &se) && se.Public:
		return w.fail(ctx, cl, c, se.Message, se.Error())
	case errors.As(err, &se):
		return w.fail(ctx, cl, c, "the scorer failed on this submission; an admin can see the details", se.Error())
	case errors.As(err, &ie):
		return w.fail(ctx, cl, c, "the submission no longer matches the competition's holdout: "+summarize(ie.Problems), ie.Error())
	}
	return w.retryLater(ctx, cl, fmt.Errorf("score submission %d: %w", cl.sub.ID, err))
}

// scoreRow is the score row of res (the whole holdout's result, or the
// public part's in split mode) for the claimed submission, scored by m
// against h in dur. It carries no intervals, unit scores or split fields:
// addWholeStats or addSplitStats add them.
func scoreRow(cl *claimed, h Holdout, m ScorerModule, res *engine.Result, dur time.Duration) db.InsertSubmissionScoreParams {
	return db.InsertSubmissionScoreParams{
		SubmissionID: cl.sub.ID, PrimaryScore: res.PrimaryScore, SecondaryJson: secondaryJSON(res),
		ScorerDigest: m.Digest, HoldoutDigest: h.Digest, EngineVersion: text.Truncate(res.EngineVersion, 64),
		DurationMs: int32(min(dur.Milliseconds(), math.MaxInt32)), SplitMethod: db.SubmissionScoresSplitMethodNone,
	}
}

// addWholeStats adds to row the bootstrap interval of res's per-unit
// values (drawn with seed) when there is one, and the unit scores when the
// primary score is their mean.
func addWholeStats(row *db.InsertSubmissionScoreParams, res *engine.Result, seed uint64) {
	if lo, hi, ok := Bootstrap(res.PerUnit, seed); ok {
		row.CiLow, row.CiHigh = sqlNullFloat{Float64: lo, Valid: true}, sqlNullFloat{Float64: hi, Valid: true}
	}
	if signif.IsMean(res.PrimaryScore, res.PerUnit) {
		row.UnitScores = sql.NullString{String: string(signif.Encode(res.PerUnit)), Valid: true}
	}
}

// addSplitStats adds to row the split's method, fingerprint, part sizes
// and private score and, when the split has per-unit values, the unit
// scores and each part's bootstrap interval (the public part drawn with
// seed, the private part with a seed derived from it).
func addSplitStats(row *db.InsertSubmissionScoreParams, split *SplitResult, sp Split, seed uint64) {
	row.SplitMethod = db.SubmissionScoresSplitMethod(split.Method)
	row.SplitFingerprint = sp.Fingerprint()
	row.PublicUnits = sql.NullInt32{Int32: int32(split.Public.Units), Valid: true}
	row.PrivateUnits = sql.NullInt32{Int32: int32(split.Private.Units), Valid: true}
	row.PrivateScore = sqlNullFloat{Float64: split.Private.Primary, Valid: true}
	if split.PerUnit != nil {
		row.UnitScores = sql.NullString{String: string(signif.Encode(split.PerUnit)), Valid: true}
		pub, priv := partValues(split)
		if lo, hi, ok := Bootstrap(pub, seed); ok {
			row.CiLow, row.CiHigh = sqlNullFloat{Float64: lo, Valid: true}, sqlNullFloat{Float64: hi, Valid: true}
		}
		if lo, hi, ok := Bootstrap(priv, seed^0x5bd1e995); ok {
			row.PrivateCiLow, row.PrivateCiHigh = sqlNullFloat{Float64: lo, Valid: true}, sqlNullFloat{Float64: hi, Valid: true}
		}
	}
}

// splitOf is the competition's split, and whether it scores in
// public_private mode.
func splitOf(c db.Competition) (Split, bool) {
	return Split{Secret: c.SplitSecret, Fraction: c.PublicFraction}, c.ScoringMode == db.CompetitionsScoringModePublicPrivate
}

// scoreSplit scores the claimed submission on both parts of sp, from its
// stored file.
func (w *Worker) scoreSplit(ctx context.Context, cl *claimed, h Holdout, m ScorerModule, sp Split) (*SplitResult, error) {
	w.s.validated.take(cl.sub.ID) // split scoring runs parts of the input itself
	file, err := readBlob(w.s.roots.Submissions, cl.sub.ArtifactPath, cl.sub.ArtifactSha256)
	if err != nil {
		return nil, fmt.Errorf("read artifact of submission %d: %w", cl.sub.ID, err)
	}
	return w.s.eng.ScoreSplit(ctx, h, m, file, sp)
}

// namedMap is the finite values of ns by name.
func namedMap(ns []abi.Named) map[string]float64 {
	var m map[string]float64
	for _, n := range ns {
		if !math.IsNaN(n.Value) && !math.IsInf(n.Value, 0) {
			if m == nil {
				m = map[string]float64{}
			}
			m[n.Name] = n.Value
		}
	}
	return m
}

// partValues splits the per-unit contributions into the public and the
// private units' values.
func partValues(sr *SplitResult) (pub, priv []float64) {
	for u, v := range sr.PerUnit {
		if sr.InPublic[u] {
			pub = append(pub, v)
		} else {
			priv = append(priv, v)
		}
	}
	return pub, priv
}

func summarize(ps []Problem) string {
	if len(ps) == 0 {
		return "invalid file"
	}
	if len(ps) == 1 {
		return ps[0].String()
	}
	return fmt.Sprintf("%s (and %d more problems)", ps[0], len(ps)-1)
}

// score runs the claimed submission: from the aligned form intake left in
// this process when it is there (and aligned to the same holdout), else
// from its stored file.
func (w *Worker) score(ctx context.Context, cl *claimed, h Holdout, m ScorerModule) (*engine.Result, error) {
	s := w.s
	if v := s.validated.take(cl.sub.ID); v != nil && v.HoldoutDigest() == "sha256:"+h.Digest {
		return s.eng.Run(ctx, v, m)
	}
	file, err := readBlob(s.roots.Submissions, cl.sub.ArtifactPath, cl.sub.ArtifactSha256)
	if err != nil {
		return nil, fmt.Errorf("read artifact of submission %d: %w", cl.sub.ID, err)
	}
	return s.eng.Score(ctx, h, m, file)
}

// secondaryJSON is the stored form of a result's (finite) secondary scores.
func secondaryJSON(res *engine.Result) string {
	m := res.Secondary
	if m == nil {
		m = map[string]float64{}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// heartbeat renews the lease every Lease/3 until stopped; when the lease
// is lost it cancels the scoring.
func (w *Worker) heartbeat(ctx context.Context, cancel context.CancelFunc, cl *claimed) func() {
	return w.keepLease(ctx, cancel, func(ctx context.Context, until sqlNullTime) (int64, error) {
		return w.s.st.ExtendSubmissionLease(ctx, db.ExtendSubmissionLeaseParams{ID: cl.sub.ID, LeaseToken: cl.token, LeaseUntil: until})
	})
}

// keepLease calls renew with a new lease end every Lease/3 until the
// returned stop is called or ctx ends; when renew changes no row (the
// lease went to another worker) it cancels the work.
func (w *Worker) keepLease(ctx context.Context, cancel context.CancelFunc, renew func(ctx context.Context, until sqlNullTime) (int64, error)) func() {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(w.opts.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				n, err := renew(ctx, timeArg(w.s.now().UTC().Add(w.opts.Lease)))
				if err == nil && n == 0 {
					cancel()
					return
				}
			}
		}
	}()
	return func() { close(done) }
}

// finish records a successful score (an existing row, or a new one) as the
// official score, in one transaction that also checks the lease. Its lock
// order is the intake's (see Service.Submit): the user's leaderboard entry,
// then submission rows, the competition row last. Deadlock victims and lock
// wait timeouts are retried by Store.InTx, the one retry layer.
func (w *Worker) finish(ctx context.Context, cl *claimed, c db.Competition, used [2]int64, existing *db.SubmissionScore, row *db.InsertSubmissionScoreParams) error {
	s := w.s
	scoredAt := s.now().UTC()
	err := s.st.InTx(ctx, func(tx store.Store) error {
		// First statement: the user's leaderboard entry lock, so this
		// transaction's reads start after any concurrent switch of the same
		// user's scores has committed (see updateBest).
		if _, err := tx.LockLeaderboardEntry(ctx, db.LockLeaderboardEntryParams{
			CompetitionID: c.ID, UserID: cl.sub.UserID,
		}); err != nil && !store.IsNotFound(err) {
			return fmt.Errorf("lock leaderboard entry: %w", err)
		}
		cur, err := tx.LockSubmission(ctx, cl.sub.ID)
		if err != nil {
			return fmt.Errorf("lock submission %d: %w", cl.sub.ID, err)
		}
		if cur.LeaseToken != cl.token || cur.Pending == pendingNone {
			return errLeaseLost
		}
		sc, err := makeOfficial(ctx, tx, cl, existing, row)
		if err != nil {
			return err
		}
		if err := tx.FinishSubmissionScored(ctx, db.FinishSubmissionScoredParams{
			ID: cl.sub.ID, PrimaryScore: sqlNullFloat{Float64: sc.PrimaryScore, Valid: true},
			CiLow: sc.CiLow, CiHigh: sc.CiHigh, PrivateScore: sc.PrivateScore, PrivateCiLow: sc.PrivateCiLow,
			PrivateCiHigh: sc.PrivateCiHigh, ScoredAt: timeArg(scoredAt),
		}); err != nil {
			return fmt.Errorf("finish submission %d: %w", cl.sub.ID, err)
		}
		return afterScored(ctx, tx, cl, c, cur, used)
	})
	if err != nil {
		return err
	}
	s.done.Done(cl.sub.ID)
	if cl.sub.Pending == pendingNew {
		s.observeLatency(scoredAt.Sub(cl.sub.CreatedAt))
	}
	return nil
}

// makeOfficial makes the claimed submission's official score existing or,
// when existing is nil, row (inserted now, or the row already stored with
// the same digests), inside tx, and returns it with its scores and
// intervals. Exactly one score of the submission is official afterwards.
func makeOfficial(ctx context.Context, tx store.Store, cl *claimed, existing *db.SubmissionScore, row *db.InsertSubmissionScoreParams) (*db.SubmissionScore, error) {
	if err := tx.ClearOfficialSubmissionScore(ctx, cl.sub.ID); err != nil {
		return nil, fmt.Errorf("switch official score of submission %d: %w", cl.sub.ID, err)
	}
	sc, inserted := existing, false
	if sc == nil {
		// The unique (submission, scorer, holdout) key makes a second
		// row with the same digests impossible; reuse the first.
		ins := *row
		ins.IsOfficial = true
		id, err := tx.InsertSubmissionScore(ctx, ins)
		switch {
		case store.IsDuplicate(err):
			got, err := tx.GetSubmissionScoreByDigests(ctx, db.GetSubmissionScoreByDigestsParams{
				SubmissionID: row.SubmissionID, ScorerDigest: row.ScorerDigest, HoldoutDigest: row.HoldoutDigest,
			})
			if err != nil {
				return nil, fmt.Errorf("find score of submission %d: %w", cl.sub.ID, err)
			}
			sc = &got
		case err != nil:
			return nil, fmt.Errorf("insert score of submission %d: %w", cl.sub.ID, err)
		default:
			sc, inserted = &db.SubmissionScore{ID: id, PrimaryScore: row.PrimaryScore, CiLow: row.CiLow, CiHigh: row.CiHigh,
				PrivateScore: row.PrivateScore, PrivateCiLow: row.PrivateCiLow, PrivateCiHigh: row.PrivateCiHigh}, true
		}
	}
	if !inserted {
		if err := tx.SetOfficialSubmissionScore(ctx, sc.ID); err != nil {
			return nil, fmt.Errorf("switch official score of submission %d: %w", cl.sub.ID, err)
		}
	}
	return sc, nil
}

// afterScored does, inside finish's transaction, what follows a newly
// official score of cur (locked, scored with the scorer and holdout ids
// used): the user's best is ranked the competition's current way, a
// rescore job advances, the submission is queued again when the scorer or
// holdout changed meanwhile, and, last of all, the competition's
// leaderboard version is bumped (its row lock is held as briefly as
// possible).
func afterScored(ctx context.Context, tx store.Store, cl *claimed, c db.Competition, cur db.Submission, used [2]int64) error {
	// The competition as it is now: an import may have turned its
	// direction around while this one scored, and the best is
	// ranked the current way.
	now, err := tx.GetCompetition(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("read competition %s: %w", c.Slug, err)
	}
	if err := updateBest(ctx, tx, now, cur.UserID); err != nil {
		return err
	}
	if cur.RescoreJobID.Valid {
		if err := tx.AdvanceRescoreJob(ctx, db.AdvanceRescoreJobParams{ID: cur.RescoreJobID.Int64, Done: 1}); err != nil {
			return fmt.Errorf("advance rescore job: %w", err)
		}
	}
	// The scorer or holdout changed while this one scored (and the
	// rescore request skipped it as busy): queue it again.
	if now.CurrentScorerID.Int64 != used[0] || now.CurrentHoldoutID.Int64 != used[1] {
		if _, err := tx.RequeueSubmission(ctx, db.RequeueSubmissionParams{ID: cl.sub.ID}); err != nil {
			return fmt.Errorf("requeue submission %d: %w", cl.sub.ID, err)
		}
	}
	// Last: every switch of this competition serializes on this row
	// lock, so hold it for as short a time as possible.
	if err := tx.BumpLeaderboardVersion(ctx, c.ID); err != nil {
		return fmt.Errorf("bump leaderboard of %s: %w", c.Slug, err)
	}
	return nil
}

// fail records a scoring failure: public is shown to the participant,
// internal is kept for admins and logged.
func (w *Worker) fail(ctx context.Context, cl *claimed, c db.Competition, public, internal string) error {
	s := w.s
	s.log.Warn("submission scoring failed", "submission_id", cl.sub.ID, "competition", c.Slug, "detail", internal)
	defer s.done.Done(cl.sub.ID)
	return s.failTx(ctx, cl, c, public, internal)
}

func (s *Service) failTx(ctx context.Context, cl *claimed, c db.Competition, public, internal string) error {
	return s.st.InTx(ctx, func(tx store.Store) error {
		cur, err := tx.LockSubmission(ctx, cl.sub.ID)
		if err != nil {
			return fmt.Errorf("lock submission %d: %w", cl.sub.ID, err)
		}
		if cur.LeaseToken != cl.token || cur.Pending == pendingNone {
			return errLeaseLost
		}
		if err := tx.FinishSubmissionFailed(ctx, db.FinishSubmissionFailedParams{
			ID: cl.sub.ID, PublicError: text.Truncate(public, 1024), InternalError: text.Truncate(internal, 60000),
		}); err != nil {
			return fmt.Errorf("fail submission %d: %w", cl.sub.ID, err)
		}
		if cur.RescoreJobID.Valid {
			if err := tx.AdvanceRescoreJob(ctx, db.AdvanceRescoreJobParams{ID: cur.RescoreJobID.Int64, Failed: 1}); err != nil {
				return fmt.Errorf("advance rescore job: %w", err)
			}
		}
		return tx.BumpLeaderboardVersion(ctx, c.ID)
	})
}

// retryLater releases the lease after an infrastructure error so that a
// worker tries again; after MaxAttempts claims the submission fails.
func (w *Worker) retryLater(ctx context.Context, cl *claimed, cause error) error {
	if int(cl.sub.Attempts) >= w.opts.MaxAttempts && ctx.Err() == nil {
		c, err := w.s.st.GetCompetition(ctx, cl.sub.CompetitionID)
		if err == nil {
			if ferr := w.fail(ctx, cl, c, "scoring failed repeatedly; an admin can see the details", cause.Error()); ferr != nil {
				return errors.Join(cause, ferr)
			}
			return cause
		}
	}
	return errors.Join(cause, w.release(cl, cause))
}

func (w *Worker) release(cl *claimed, _ error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := w.s.st.ReleaseSubmissionLease(ctx, db.ReleaseSubmissionLeaseParams{ID: cl.sub.ID, LeaseToken: cl.token})
	// A connection closed under us (shutdown) only lets the lease lapse:
	// another worker takes the submission over then.
	if err != nil && !errors.Is(err, sql.ErrConnDone) && !errors.Is(err, driver.ErrBadConn) && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("release submission %d: %w", cl.sub.ID, err)
	}
	return nil
}
