package competitions

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/db"
)

// Errors of final selection and the reveal; httpcomp maps them to 409.
var (
	// ErrNoPrivateBoard: the competition is not in public_private mode.
	ErrNoPrivateBoard = errors.New("the competition has no private board (scoring mode single_realtime_hidden)")
	// ErrSelectionClosed: the selection deadline passed, or the private
	// board was revealed.
	ErrSelectionClosed = errors.New("final selection is closed for this competition")
	// ErrNotFinalizable: a failed submission cannot be a final.
	ErrNotFinalizable = errors.New("a failed submission cannot be marked final")
)

// FinalLimitError: the participant already marked FinalLimit submissions.
type FinalLimitError struct{ Limit int }

func (e *FinalLimitError) Error() string {
	return fmt.Sprintf("at most %d submissions can be marked final; unmark one first", e.Limit)
}

// SetFinal marks (final true) or unmarks one of the caller's submissions
// as final. Up to the competition's FinalLimit may be marked, until its
// selection deadline and before the reveal. Marking is idempotent. The
// user's private-board entry is recomputed in the same transaction.
func (s *Service) SetFinal(ctx context.Context, v Viewer, slug string, id int64, final bool) (Submission, error) {
	c, err := s.competition(ctx, v, slug)
	if err != nil {
		return Submission{}, err
	}
	if v.UserID == 0 {
		return Submission{}, ErrNotFound
	}
	if c.ScoringMode != db.CompetitionsScoringModePublicPrivate {
		return Submission{}, ErrNoPrivateBoard
	}
	now := s.now().UTC()
	var out db.Submission
	err = s.st.InTx(ctx, func(tx store.Store) error {
		if _, err := tx.LockLeaderboardEntry(ctx, db.LockLeaderboardEntryParams{CompetitionID: c.ID, UserID: v.UserID}); err != nil && !store.IsNotFound(err) {
			return fmt.Errorf("lock leaderboard entry: %w", err)
		}
		cur, err := tx.GetCompetition(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("read competition %s: %w", c.Slug, err)
		}
		if cur.PrivateRevealedAt.Valid || cur.SelectionDeadline.Valid && !now.Before(cur.SelectionDeadline.Time) {
			return ErrSelectionClosed
		}
		sub, err := tx.LockSubmission(ctx, id)
		if store.IsNotFound(err) || err == nil && (sub.UserID != v.UserID || sub.CompetitionID != c.ID) {
			return ErrNotFound // another user's submission is indistinguishable from none
		}
		if err != nil {
			return fmt.Errorf("lock submission %d: %w", id, err)
		}
		if sub.IsFinal == final {
			out = sub
			return nil
		}
		p := db.SetSubmissionFinalParams{ID: id, IsFinal: final}
		if final {
			if sub.Status == db.SubmissionsStatusFailed {
				return ErrNotFinalizable
			}
			n, err := tx.CountUserFinals(ctx, db.CountUserFinalsParams{CompetitionID: c.ID, UserID: v.UserID})
			if err != nil {
				return fmt.Errorf("count finals: %w", err)
			}
			if n >= int64(cur.FinalLimit) {
				return &FinalLimitError{Limit: int(cur.FinalLimit)}
			}
			p.FinalAt = timeArg(now)
		}
		if _, err := tx.SetSubmissionFinal(ctx, p); err != nil {
			return fmt.Errorf("mark submission %d: %w", id, err)
		}
		if err := updatePrivate(ctx, tx, cur, v.UserID); err != nil {
			return err
		}
		if err := tx.BumpLeaderboardVersion(ctx, c.ID); err != nil {
			return fmt.Errorf("bump leaderboard of %s: %w", c.Slug, err)
		}
		out, err = tx.GetSubmission(ctx, id)
		return err
	})
	if err != nil {
		return Submission{}, err
	}
	return s.shown(c, v, submissionView(c.Slug, out)), nil
}

// Reveal makes the competition's private board public. Only its owner
// and admins may; the reveal is recorded as an audit event and never
// reversed (revealing again changes nothing).
func (s *Service) Reveal(ctx context.Context, v Viewer, slug string) (Competition, error) {
	c, err := s.competition(ctx, v, slug)
	if err != nil {
		return Competition{}, err
	}
	if !v.privileged(c) {
		return Competition{}, ErrForbidden
	}
	if c.ScoringMode != db.CompetitionsScoringModePublicPrivate {
		return Competition{}, ErrNoPrivateBoard
	}
	err = s.st.InTx(ctx, func(tx store.Store) error {
		n, err := tx.RevealPrivateBoard(ctx, db.RevealPrivateBoardParams{ID: c.ID, RevealedAt: timeArg(s.now().UTC())})
		if err != nil {
			return fmt.Errorf("reveal %s: %w", c.Slug, err)
		}
		if n == 0 {
			return nil
		}
		return s.audit(ctx, tx, v.UserID, "competition.reveal", "competition", c.Slug, "private board revealed")
	})
	if err != nil {
		return Competition{}, err
	}
	if c, err = s.st.GetCompetition(ctx, c.ID); err != nil {
		return Competition{}, err
	}
	return s.view(ctx, c)
}

// ScoringSettings are a competition's scoring mode, split and board
// settings, as bundles and authors set them.
type ScoringSettings struct {
	Mode              string     // ModeSingle (default) or ModePublicPrivate
	PublicFraction    float64    // default DefaultPublicFraction
	DisplayDigits     int        // default DefaultDisplayDigits
	FinalLimit        int        // default DefaultFinalLimit
	SelectionDeadline *time.Time // none: permanent
}

// withDefaults fills zero fields.
func (ss ScoringSettings) withDefaults() ScoringSettings {
	if ss.Mode == "" {
		ss.Mode = ModeSingle
	}
	if ss.PublicFraction == 0 {
		ss.PublicFraction = DefaultPublicFraction
	}
	if ss.DisplayDigits == 0 {
		ss.DisplayDigits = DefaultDisplayDigits
	}
	if ss.FinalLimit == 0 {
		ss.FinalLimit = DefaultFinalLimit
	}
	return ss
}

// Validate returns a *ValidationError naming every invalid field.
func (ss ScoringSettings) Validate() error {
	ss = ss.withDefaults()
	var fe []FieldError
	bad := func(field, format string, a ...any) { fe = append(fe, FieldError{field, fmt.Sprintf(format, a...)}) }
	if ss.Mode != ModeSingle && ss.Mode != ModePublicPrivate {
		bad("scoring_mode", "must be %s or %s, got %q", ModeSingle, ModePublicPrivate, ss.Mode)
	}
	if !ValidFraction(ss.PublicFraction) {
		bad("public_fraction", "must be strictly between 0 and 1, got %v", ss.PublicFraction)
	}
	if ss.DisplayDigits < 1 || ss.DisplayDigits > 17 {
		bad("display_digits", "must be 1-17, got %d", ss.DisplayDigits)
	}
	if ss.FinalLimit < 1 || ss.FinalLimit > 100 {
		bad("final_limit", "must be 1-100, got %d", ss.FinalLimit)
	}
	if len(fe) > 0 {
		return &ValidationError{Fields: fe}
	}
	return nil
}

// applyScoring sets c's scoring settings inside an install or author
// transaction. The mode and the public fraction decide the split, so they
// can change only while the competition has no submissions: a split is
// never changed under existing scores.
func applyScoring(ctx context.Context, tx store.Store, c db.Competition, ss ScoringSettings) error {
	ss = ss.withDefaults()
	if err := ss.Validate(); err != nil {
		return err
	}
	if string(c.ScoringMode) != ss.Mode || ss.Mode == ModePublicPrivate && c.PublicFraction != ss.PublicFraction {
		n, err := tx.CountCompetitionSubmissions(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("count submissions: %w", err)
		}
		if n > 0 {
			return &ValidationError{Fields: []FieldError{{"scoring_mode", fmt.Sprintf(
				"scoring_mode and public_fraction cannot change once a competition has submissions (%s has %d)", c.Slug, n)}}}
		}
	}
	p := db.SetCompetitionScoringParams{ID: c.ID, ScoringMode: db.CompetitionsScoringMode(ss.Mode),
		PublicFraction: ss.PublicFraction, SplitSecret: newSplitSecret(), DisplayDigits: int8(ss.DisplayDigits),
		FinalLimit: int32(ss.FinalLimit)}
	if ss.SelectionDeadline != nil {
		p.SelectionDeadline = timeArg(ss.SelectionDeadline.UTC())
	}
	if err := tx.SetCompetitionScoring(ctx, p); err != nil {
		return fmt.Errorf("set scoring of %s: %w", c.Slug, err)
	}
	return nil
}
