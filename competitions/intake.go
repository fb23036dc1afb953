package competitions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/medforge/medforge/internal/text"

	"github.com/medforge/medforge/engine"
	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/db"
)

// Submission is a participant's view of one submission. The internal error
// detail never appears here.
type Submission struct {
	ID           int64    `json:"id"`
	Competition  string   `json:"competition"`
	Filename     string   `json:"filename"`
	SHA256       string   `json:"sha256"`
	SizeBytes    int64    `json:"size_bytes"`
	RowCount     int      `json:"row_count"`
	Status       string   `json:"status"`
	Error        string   `json:"error,omitempty"`
	PrimaryScore *float64 `json:"primary_score"`
	CILow        *float64 `json:"ci_low,omitempty"`
	CIHigh       *float64 `json:"ci_high,omitempty"`
	Rescoring    bool     `json:"rescoring,omitempty"`
	// IsFinal: marked by its author for the private board.
	IsFinal   bool       `json:"is_final"`
	CreatedAt time.Time  `json:"created_at"`
	ScoredAt  *time.Time `json:"scored_at,omitempty"`
}

func submissionView(slug string, r db.Submission) Submission {
	out := Submission{
		ID: r.ID, Competition: slug, Filename: r.Filename, SHA256: r.ArtifactSha256, SizeBytes: r.SizeBytes,
		RowCount: int(r.RowCount), Status: string(r.Status), Error: r.PublicError,
		Rescoring: r.Pending >= pendingRescore, CreatedAt: r.CreatedAt.UTC(), IsFinal: r.IsFinal,
	}
	if r.PrimaryScore.Valid {
		v := r.PrimaryScore.Float64
		out.PrimaryScore = &v
	}
	if r.CiLow.Valid && r.CiHigh.Valid {
		lo, hi := r.CiLow.Float64, r.CiHigh.Float64
		out.CILow, out.CIHigh = &lo, &hi
	}
	if r.ScoredAt.Valid {
		t := r.ScoredAt.Time.UTC()
		out.ScoredAt = &t
	}
	return out
}

// Queue kinds of submissions.pending.
const (
	pendingNone    = 0
	pendingNew     = 1
	pendingRescore = 2
	pendingNow     = 3 // an admin's score now (a rescoring at the queue's front)
)

// SubmitResult is the answer to an accepted submission.
type SubmitResult struct {
	Submission     Submission `json:"submission"`
	DailyCap       int        `json:"daily_cap"`
	RemainingToday int        `json:"remaining_today"`
}

// utcDay is the UTC calendar day of t at midnight, and the time until the
// next UTC midnight.
func utcDay(t time.Time) (day time.Time, untilNext time.Duration) {
	t = t.UTC()
	day = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	return day, day.AddDate(0, 0, 1).Sub(t)
}

// cleanFilename keeps the base name of an uploaded file, for display only.
func cleanFilename(name string) string {
	name = filepath.Base(strings.ReplaceAll(name, "\\", "/"))
	if name == "." || name == "/" || !utf8.ValidString(name) {
		name = "submission.csv"
	}
	return text.Truncate(name, 255)
}

// Submit is SubmitFrom with the file in memory.
func (s *Service) Submit(ctx context.Context, v Viewer, slug, filename string, file []byte) (SubmitResult, error) {
	return s.SubmitFrom(ctx, v, slug, filename, bytes.NewReader(file))
}

// SubmitFrom validates the file read from r against the competition's
// current holdout and, when it is valid and the user's daily cap allows,
// stores it content-addressed and queues it for scoring. Guarantees: the
// file is streamed into the submission store's staging folder while it is
// hashed, never held whole in memory, and reading stops after
// MaxSubmissionBytes+1 bytes (a longer file is an *InvalidError naming the
// limit); validation reads the staged file through a read-only mapping; an
// invalid file (*InvalidError) does not count toward the cap; the cap check
// and the insert are one transaction, so concurrent uploads never exceed it
// (*CapError); the file is at its content address before the row commits,
// and a failure at any step leaves no row and removes the file unless
// another submission references the same bytes.
func (s *Service) SubmitFrom(ctx context.Context, v Viewer, slug, filename string, r io.Reader) (SubmitResult, error) {
	if v.UserID == 0 {
		return SubmitResult{}, ErrForbidden
	}
	c, err := s.competition(ctx, v, slug)
	if err != nil {
		return SubmitResult{}, err
	}
	if !c.CurrentScorerID.Valid || !c.Published {
		return SubmitResult{}, ErrNotOpen
	}
	h, err := s.holdoutOf(ctx, c)
	if err != nil {
		return SubmitResult{}, err
	}
	up, err := s.stage(r, int64(s.maxLen))
	if err != nil {
		return SubmitResult{}, err
	}
	defer up.remove()
	aligned, err := s.validateStaged(ctx, h, up)
	if err != nil {
		var ie *InvalidError
		if errors.As(err, &ie) {
			return SubmitResult{}, ie
		}
		return SubmitResult{}, fmt.Errorf("validate submission to %s: %w", slug, err)
	}
	now := s.now().UTC()
	day, untilMidnight := utcDay(now)
	capErr := &CapError{Cap: int(c.DailyCap), RetryAfter: untilMidnight}
	// Cheap early refusal without a lock; the transaction below decides.
	if n, err := s.st.GetDailyCount(ctx, db.GetDailyCountParams{CompetitionID: c.ID, UserID: v.UserID, Day: day}); err == nil && int(n) >= int(c.DailyCap) {
		return SubmitResult{}, capErr
	}
	digest := up.digest
	rel, err := s.place(up)
	if err != nil {
		return SubmitResult{}, fmt.Errorf("store submission to %s: %w", slug, err)
	}
	accepted := false
	defer func() {
		if !accepted {
			s.dropUnreferencedBlob(ctx, digest, rel)
		}
	}()
	gate := s.intakeLock(c.ID, v.UserID)
	gate.Lock()
	defer gate.Unlock()
	res, err := s.accept(ctx, acceptance{
		c: c, userID: v.UserID, slug: slug, filename: filename,
		up: up, rel: rel, aligned: aligned, now: now, day: day, capErr: capErr,
	})
	if err != nil {
		return SubmitResult{}, err
	}
	accepted = true
	// The worker of this process takes the aligned submission from here
	// instead of reading and parsing the file again.
	s.validated.put(res.Submission.ID, aligned)
	s.wake.Notify()
	return res, nil
}

// acceptance is one validated upload, placed at its content address, on its
// way into the accepting transaction (see SubmitFrom).
type acceptance struct {
	c        db.Competition
	userID   int64
	slug     string
	filename string
	up       *staged
	rel      string
	aligned  *engine.Validated
	now, day time.Time
	capErr   *CapError
}

// accept makes sure the day's count row and the user's leaderboard entry
// exist, then counts and inserts the submission in one transaction that
// refuses it (in.capErr) when the daily cap is spent. The caller holds the
// user's intake lock and removes the placed file when accept fails.
func (s *Service) accept(ctx context.Context, in acceptance) (SubmitResult, error) {
	c := in.c
	ensure := db.EnsureDailyCountParams{CompetitionID: c.ID, UserID: in.userID, Day: in.day}
	if err := s.st.InTx(ctx, func(tx store.Store) error { return tx.EnsureDailyCount(ctx, ensure) }); err != nil {
		return SubmitResult{}, fmt.Errorf("count submission: %w", err)
	}
	if err := s.ensureLeaderboardEntry(ctx, c.ID, in.userID, in.now); err != nil {
		return SubmitResult{}, err
	}
	var res SubmitResult
	err := s.st.InTx(ctx, func(tx store.Store) error {
		// Lock order, shared with the worker's finish (see Worker.finish):
		// the user's leaderboard entry first, then the daily count and the
		// submission rows, the competition row last. Counting on the entry
		// first takes its row lock before the submission insert's
		// foreign-key check share-locks the competition row, so an intake
		// and a finish (entry, ..., competition) can never wait on each
		// other in a cycle. A refused upload rolls the count back.
		if err := tx.CountLeaderboardSubmission(ctx, db.CountLeaderboardSubmissionParams{
			CompetitionID: c.ID, UserID: in.userID, CreatedAt: in.now,
		}); err != nil {
			return fmt.Errorf("count submission on the leaderboard: %w", err)
		}
		n, err := tx.BumpDailyCount(ctx, db.BumpDailyCountParams{CompetitionID: c.ID, UserID: in.userID, Day: in.day, DailyCap: c.DailyCap})
		if err != nil {
			return fmt.Errorf("count submission: %w", err)
		}
		if n == 0 {
			return in.capErr
		}
		used, err := tx.GetDailyCount(ctx, db.GetDailyCountParams{CompetitionID: c.ID, UserID: in.userID, Day: in.day})
		if err != nil {
			return fmt.Errorf("count submission: %w", err)
		}
		id, err := tx.InsertSubmission(ctx, db.InsertSubmissionParams{
			CompetitionID: c.ID, UserID: in.userID, Filename: cleanFilename(in.filename), ArtifactSha256: in.up.digest,
			ArtifactPath: in.rel, SizeBytes: in.up.size, RowCount: int32(in.aligned.Units()), CreatedAt: in.now,
		})
		if err != nil {
			return fmt.Errorf("insert submission: %w", err)
		}
		// The new row locks its digest until commit. A failed upload of the
		// same bytes that removed the file before this insert could take
		// that lock (dropUnreferencedBlob) made the insert wait for it: put
		// the file back. Idempotent, so a retried transaction is fine.
		if _, err := s.place(in.up); err != nil {
			return fmt.Errorf("store submission to %s: %w", in.slug, err)
		}
		row, err := tx.GetSubmission(ctx, id)
		if err != nil {
			return fmt.Errorf("read submission %d: %w", id, err)
		}
		res = SubmitResult{Submission: submissionView(c.Slug, row), DailyCap: int(c.DailyCap), RemainingToday: max(0, int(c.DailyCap)-int(used))}
		return nil
	})
	if err != nil {
		return SubmitResult{}, err
	}
	return res, nil
}

// validateStaged validates a staged upload through a read-only mapping of
// its file; the result holds no reference to the mapping.
func (s *Service) validateStaged(ctx context.Context, h Holdout, up *staged) (*engine.Validated, error) {
	data, unmap, err := mapFile(up.path)
	if err != nil {
		return nil, fmt.Errorf("read staged upload: %w", err)
	}
	defer unmap()
	return s.eng.Validate(ctx, h, data)
}

// dropUnreferencedBlob removes the stored file of an upload that was not
// accepted, unless a submission row references the same digest (files are
// content-addressed, so another upload may share it). The check and the
// removal happen while a locking read holds the digest's index range: an
// uncommitted insert of the digest makes the check wait for its outcome,
// and an insert that comes later waits for the removal and then rewrites
// the file (see Submit). Failing here only leaves an unreferenced file, so
// it is logged, not returned; it runs even when ctx was cancelled.
func (s *Service) dropUnreferencedBlob(ctx context.Context, digest, rel string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := s.st.InTx(ctx, func(tx store.Store) error {
		n, err := tx.LockSubmissionsByArtifact(ctx, digest)
		if err != nil || n > 0 {
			return err
		}
		p, err := resolve(s.roots.Submissions, rel)
		if err != nil {
			return err
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
	if err != nil {
		s.log.Warn("could not remove the file of a failed upload", "sha256", digest, "err", err)
	}
}

// MySubmissions lists v's submissions to a competition, newest first (at
// most 200), with the daily cap and what remains of it today.
func (s *Service) MySubmissions(ctx context.Context, v Viewer, slug string) ([]Submission, int, int, error) {
	c, err := s.competition(ctx, v, slug)
	if err != nil {
		return nil, 0, 0, err
	}
	rows, err := s.st.ListUserSubmissions(ctx, db.ListUserSubmissionsParams{CompetitionID: c.ID, UserID: v.UserID})
	if err != nil {
		return nil, 0, 0, fmt.Errorf("list submissions: %w", err)
	}
	out := make([]Submission, len(rows))
	for i, r := range rows {
		out[i] = s.shown(c, v, submissionView(c.Slug, r))
	}
	day, _ := utcDay(s.now())
	used, err := s.st.GetDailyCount(ctx, db.GetDailyCountParams{CompetitionID: c.ID, UserID: v.UserID, Day: day})
	if err != nil && !store.IsNotFound(err) {
		return nil, 0, 0, fmt.Errorf("count submissions: %w", err)
	}
	return out, int(c.DailyCap), max(0, int(c.DailyCap)-int(used)), nil
}

// WaitSubmission is GetSubmission that, while the submission is queued or
// being (re)scored, waits up to wait for its outcome. A worker in this
// process wakes the waiter at once; work finished by another process is
// seen within a quarter second.
func (s *Service) WaitSubmission(ctx context.Context, v Viewer, id int64, wait time.Duration) (Submission, error) {
	deadline := time.Now().Add(wait)
	for {
		sub, final, err := s.waitRound(ctx, v, id, deadline)
		if final || err != nil {
			return sub, err
		}
	}
}

// waitRound reads submission id once and, unless that settles the wait
// (final), sleeps until this process finishes it, a quarter second passes,
// or the deadline or ctx ends.
func (s *Service) waitRound(ctx context.Context, v Viewer, id int64, deadline time.Time) (sub Submission, final bool, err error) {
	ch, release := s.done.Wait(id)
	defer release()
	sub, err = s.GetSubmission(ctx, v, id)
	if err != nil || (sub.Status != "queued" && sub.Status != "scoring" && !sub.Rescoring) {
		return sub, true, err
	}
	left := time.Until(deadline)
	if left <= 0 {
		return sub, true, nil
	}
	t := time.NewTimer(min(left, 250*time.Millisecond))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return sub, true, nil
	case <-ch:
	case <-t.C:
	}
	return sub, false, nil
}

// GetSubmission returns one of v's submissions (admins: anyone's).
func (s *Service) GetSubmission(ctx context.Context, v Viewer, id int64) (Submission, error) {
	r, err := s.st.GetSubmission(ctx, id)
	if store.IsNotFound(err) || err == nil && r.UserID != v.UserID && !v.Admin {
		return Submission{}, ErrNotFound
	}
	if err != nil {
		return Submission{}, fmt.Errorf("get submission %d: %w", id, err)
	}
	c, err := s.st.GetCompetition(ctx, r.CompetitionID)
	if err != nil {
		return Submission{}, fmt.Errorf("competition of submission %d: %w", id, err)
	}
	if !v.sees(c.Exposure) && !v.Admin {
		return Submission{}, ErrNotFound
	}
	return s.shown(c, v, submissionView(c.Slug, r)), nil
}

// shown is sub as v sees it: a participant of a public_private competition
// sees its public score and interval rounded to the display precision.
func (s *Service) shown(c db.Competition, v Viewer, sub Submission) Submission {
	if !s.rounds(c, v) {
		return sub
	}
	for _, p := range []**float64{&sub.PrimaryScore, &sub.CILow, &sub.CIHigh} {
		if *p != nil {
			x := roundSig(**p, int(c.DisplayDigits))
			*p = &x
		}
	}
	return sub
}

// AdminSubmission is an admin's view of a submission: the participant view
// plus the internal error and every score row.
type AdminSubmission struct {
	Submission
	UserID        int64  `json:"user_id"`
	InternalError string `json:"internal_error"`
	Attempts      int    `json:"attempts"`
	// PrivateScore is the official private-part score (public_private).
	PrivateScore *float64      `json:"private_score,omitempty"`
	Scores       []ScoreRecord `json:"scores"`
}

// ScoreRecord is one row of submission_scores.
type ScoreRecord struct {
	ID            int64   `json:"id"`
	PrimaryScore  float64 `json:"primary_score"`
	Secondary     string  `json:"secondary_json"`
	ScorerDigest  string  `json:"scorer_digest"`
	HoldoutDigest string  `json:"holdout_digest"`
	EngineVersion string  `json:"engine_version"`
	DurationMs    int     `json:"duration_ms"`
	Official      bool    `json:"is_official"`
	// Split provenance (public_private): PrimaryScore is the public part's.
	PrivateScore     *float64  `json:"private_score,omitempty"`
	SplitMethod      string    `json:"split_method"`
	SplitFingerprint string    `json:"split_fingerprint,omitempty"`
	PublicUnits      *int32    `json:"public_units,omitempty"`
	PrivateUnits     *int32    `json:"private_units,omitempty"`
	CreatedAt        time.Time `json:"created_at"`
	// Result is the engine's Result this row records, in the form
	// `medforge score` prints: the same submission, holdout and module give
	// the same bytes here and there.
	Result *engine.Result `json:"result"`
}

// recordedResult rebuilds the engine.Result a score row of submission r
// in competition c records.
func recordedResult(c db.Competition, r db.Submission, sc db.SubmissionScore) *engine.Result {
	res := &engine.Result{Competition: c.Slug, PrimaryScore: sc.PrimaryScore, HigherIsBetter: c.HigherIsBetter,
		Rows: int(r.RowCount), ScorerDigest: "sha256:" + sc.ScorerDigest, HoldoutDigest: "sha256:" + sc.HoldoutDigest,
		EngineVersion: sc.EngineVersion}
	if err := json.Unmarshal([]byte(sc.SecondaryJson), &res.Secondary); err != nil || len(res.Secondary) == 0 {
		res.Secondary = nil
	}
	return res
}

// AdminSubmission returns any submission with its internal detail.
func (s *Service) AdminSubmission(ctx context.Context, id int64) (AdminSubmission, error) {
	r, err := s.st.GetSubmission(ctx, id)
	if store.IsNotFound(err) {
		return AdminSubmission{}, ErrNotFound
	}
	if err != nil {
		return AdminSubmission{}, fmt.Errorf("get submission %d: %w", id, err)
	}
	c, err := s.st.GetCompetition(ctx, r.CompetitionID)
	if err != nil {
		return AdminSubmission{}, err
	}
	rows, err := s.st.ListSubmissionScores(ctx, id)
	if err != nil {
		return AdminSubmission{}, err
	}
	out := AdminSubmission{Submission: submissionView(c.Slug, r), UserID: r.UserID, InternalError: r.InternalError,
		Attempts: int(r.Attempts), Scores: make([]ScoreRecord, len(rows))}
	for i, sc := range rows {
		out.Scores[i] = ScoreRecord{ID: sc.ID, PrimaryScore: sc.PrimaryScore, Secondary: sc.SecondaryJson,
			ScorerDigest: sc.ScorerDigest, HoldoutDigest: sc.HoldoutDigest, EngineVersion: sc.EngineVersion,
			DurationMs: int(sc.DurationMs), Official: sc.IsOfficial, CreatedAt: sc.CreatedAt.UTC(),
			SplitMethod: string(sc.SplitMethod), SplitFingerprint: sc.SplitFingerprint, Result: recordedResult(c, r, sc)}
		if sc.PrivateScore.Valid {
			v := sc.PrivateScore.Float64
			out.Scores[i].PrivateScore = &v
		}
		if sc.PublicUnits.Valid && sc.PrivateUnits.Valid {
			pu, vu := sc.PublicUnits.Int32, sc.PrivateUnits.Int32
			out.Scores[i].PublicUnits, out.Scores[i].PrivateUnits = &pu, &vu
		}
	}
	if r.PrivateScore.Valid {
		v := r.PrivateScore.Float64
		out.PrivateScore = &v
	}
	return out, nil
}

// ensureLeaderboardEntry creates the user's (empty) leaderboard entry when it
// is missing. It asks first with a lock-free read, because the INSERT IGNORE
// of an entry that exists share-locks the competition row and then the entry,
// the reverse of a finishing worker's lock order: after a user's first upload
// it never runs, so intake and the worker cannot deadlock on it.
func (s *Service) ensureLeaderboardEntry(ctx context.Context, competitionID, userID int64, now time.Time) error {
	present, err := s.st.HasLeaderboardEntry(ctx, db.HasLeaderboardEntryParams{CompetitionID: competitionID, UserID: userID})
	if err == nil && present {
		return nil
	}
	entry := db.EnsureLeaderboardEntryParams{CompetitionID: competitionID, UserID: userID, CreatedAt: now}
	if err := s.st.InTx(ctx, func(tx store.Store) error { return tx.EnsureLeaderboardEntry(ctx, entry) }); err != nil {
		return fmt.Errorf("create leaderboard entry: %w", err)
	}
	return nil
}
