package competitions

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"

	"github.com/medforge/medforge/engine/holdout"
	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/db"
)

// Scoring modes of a competition.
const (
	// ModeSingle scores every submission on the whole holdout, and that score
	// is the one ranking (the three seeded competitions).
	ModeSingle = "single_realtime_hidden"
	// ModePublicPrivate splits the holdout into a public part, whose score is
	// shown at once, and a private part, whose board is revealed at the end.
	ModePublicPrivate = "public_private"
)

// Defaults of the split, display and final selection settings.
const (
	DefaultPublicFraction = 0.3
	DefaultDisplayDigits  = 5
	DefaultFinalLimit     = 2
)

// Split is the public/private split of a competition's holdout units: a
// unit is public when the keyed hash of its id, read as a number in [0, 1),
// is below Fraction. The same secret, fraction and id always give the same
// answer, across restarts, rescoring and new holdout versions that keep the
// unit; without the secret nobody can tell which part a unit is in.
type Split struct {
	Secret   []byte
	Fraction float64
}

// Public reports whether the unit with this id is in the public part:
// HMAC-SHA256(secret, id), its first 8 bytes big-endian, below
// Fraction·2^64.
func (s Split) Public(id []byte) bool {
	m := hmac.New(sha256.New, s.Secret)
	m.Write(id)
	var sum [sha256.Size]byte
	u := binary.BigEndian.Uint64(m.Sum(sum[:0]))
	return float64(u) < s.Fraction*math.Exp2(64)
}

// Fingerprint names the split without revealing the secret: stored with
// every split score as its provenance, so a score can be matched to the
// split it was computed on.
func (s Split) Fingerprint() string {
	m := hmac.New(sha256.New, s.Secret)
	m.Write([]byte("medforge split fingerprint\x00"))
	m.Write([]byte(strconv.FormatFloat(s.Fraction, 'g', -1, 64)))
	return hex.EncodeToString(m.Sum(nil))[:16]
}

// newSplitSecret returns a fresh 32-byte secret.
func newSplitSecret() []byte {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("split secret: %v", err)) // crypto/rand never fails on Linux
	}
	return b
}

// ValidFraction reports whether f is a usable public fraction: strictly
// between 0 and 1.
func ValidFraction(f float64) bool { return f > 0 && f < 1 && !math.IsNaN(f) }

// checkSplit refuses a public_private split that leaves either part of the
// holdout empty (a tiny holdout, or a fraction near 0 or 1).
func checkSplit(ctx context.Context, tx store.Store, id int64, h *holdout.Holdout) error {
	c, err := tx.GetCompetition(ctx, id)
	if err != nil {
		return err
	}
	sp, split := splitOf(c)
	if !split {
		return nil
	}
	var pub int
	for i := range h.Units() {
		if sp.Public(h.ID(i)) {
			pub++
		}
	}
	if pub == 0 || pub == h.Units() {
		return &ValidationError{Fields: []FieldError{{"public_fraction", fmt.Sprintf(
			"%v puts %d of the holdout's %d units on the public board; both parts need at least one", sp.Fraction, pub, h.Units())}}}
	}
	return nil
}

// checkSplitVersion is checkSplit for the competition's current holdout,
// read from its stored file (a mode or fraction changed after the upload).
func checkSplitVersion(ctx context.Context, tx store.Store, s *Service, c db.Competition) error {
	now, err := tx.GetCompetition(ctx, c.ID)
	if err != nil || now.ScoringMode != db.CompetitionsScoringModePublicPrivate {
		return err
	}
	hv, err := tx.GetHoldoutVersion(ctx, c.CurrentHoldoutID.Int64)
	if err != nil {
		return err
	}
	sp, err := specOf(c)
	if err != nil {
		return err
	}
	p, err := resolve(s.roots.Holdouts, hv.Path)
	if err != nil {
		return err
	}
	h, err := holdout.ReadFile(sp, p)
	if err != nil {
		return fmt.Errorf("read holdout of %s: %w", c.Slug, err)
	}
	return checkSplit(ctx, tx, c.ID, h)
}
