package competitions

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"

	"github.com/medforge/medforge/competitions/signif"
	"github.com/medforge/medforge/store/db"
)

// unitChunk bounds the ids of one OfficialUnitScores query.
const unitChunk = 500

// compare attaches the paired comparison with the leader to the board's
// entries (see package signif): for the top signif.DefaultMaxEntries
// entries it reads their official scores' per-unit contributions, keeps
// the units of the board's part (public units for the public board of a
// public_private competition, private units for its private board, every
// unit otherwise) and resamples them together with a seed fixed by the
// competition and board. Per-unit values never leave this function.
func (s *Service) compare(ctx context.Context, c db.Competition, lb *Leaderboard, private bool) error {
	lb.Significance = Significance{Note: "the metric gives no per-unit contributions, so p-values, difference intervals, rank intervals and the tie group are unavailable"}
	if len(lb.Entries) == 0 {
		lb.Significance.Note = ""
		return nil
	}
	top := lb.Entries[:min(len(lb.Entries), signif.DefaultMaxEntries)]
	units, rowID, err := s.unitScores(ctx, c, top)
	if err != nil {
		return err
	}
	if units[top[0].SubmissionID] == nil {
		return nil
	}
	keep, err := s.boardUnits(ctx, c, private)
	if errors.Is(err, ErrNotOpen) {
		return nil
	}
	if err != nil {
		return err
	}
	// The figures are a function of the covered entries' score rows (whose
	// per-unit values never change), their order and the part: reuse the
	// last computation when those are the same, as after a score switch
	// outside the top.
	id := fnv.New64a()
	fmt.Fprintf(id, "%s\x00%s\x00%d\x00%t\x00%d\x00", c.Slug, lb.Board, c.CurrentHoldoutID.Int64, c.HigherIsBetter, len(top))
	if keep != nil {
		sp, _ := splitOf(c)
		id.Write([]byte(sp.Fingerprint()))
	}
	for _, e := range top {
		fmt.Fprintf(id, "%d:%d,", e.SubmissionID, rowID[e.SubmissionID])
	}
	key := boardKey{c.ID, private}
	s.mu.Lock()
	cached, hit := s.sigCache[key]
	s.mu.Unlock()
	if hit && cached.sum == id.Sum64() {
		attach(lb, cached.figs, cached.covered, cached.resamples)
		return nil
	}
	vecs := s.unitVectors(c, top, units, keep)
	const resamples = 1000
	h := fnv.New64a()
	h.Write([]byte(c.Slug + "\x00" + lb.Board))
	figs, covered := signif.Compare(vecs, signif.Options{Resamples: resamples, Seed: h.Sum64(), HigherIsBetter: c.HigherIsBetter})
	s.mu.Lock()
	s.sigCache[key] = sigResult{sum: id.Sum64(), figs: figs, covered: covered, resamples: resamples}
	s.mu.Unlock()
	attach(lb, figs, covered, resamples)
	return nil
}

// sigResult is a board's last comparison, by the identity of its inputs.
type sigResult struct {
	sum                uint64
	figs               []*signif.Figures
	covered, resamples int
}

// attach puts the figures on the board's entries (figs[i] is entry i's).
func attach(lb *Leaderboard, figs []*signif.Figures, covered, resamples int) {
	if covered == 0 {
		return
	}
	lb.Significance = Significance{Available: true, Method: "paired bootstrap vs the leader (same resampled units for both)",
		Resamples: resamples, Covered: covered}
	if covered < len(lb.Entries) {
		lb.Significance.Note = fmt.Sprintf("figures cover the top %d entries (and only those with per-unit contributions on the current holdout); rank intervals are among them", covered)
	}
	for i, f := range figs {
		if f == nil {
			continue
		}
		e := &lb.Entries[i]
		p, d, lo, hi, rl, rh, tied := f.PValue, f.Diff, f.DiffLow, f.DiffHigh, f.RankLow, f.RankHigh, f.Tied
		e.PValueVsLeader, e.DiffVsLeader, e.DiffLow, e.DiffHigh = &p, &d, &lo, &hi
		e.RankLow, e.RankHigh, e.TiedWithLeader = &rl, &rh, &tied
		e.NotSignificant = i > 0 && tied
	}
}

// roundEntry rounds what a participant sees of an entry to digits
// significant digits. Ranks were set from the full precision.
func roundEntry(e *Entry, digits int) {
	e.Score = roundSig(e.Score, digits)
	for _, p := range []**float64{&e.CILow, &e.CIHigh, &e.DiffVsLeader, &e.DiffLow, &e.DiffHigh} {
		if *p != nil {
			v := roundSig(**p, digits)
			*p = &v
		}
	}
}

// roundSig rounds x to digits significant digits (1..17).
func roundSig(x float64, digits int) float64 {
	if digits <= 0 || digits >= 17 {
		return x
	}
	v, err := strconv.ParseFloat(strconv.FormatFloat(x, 'g', digits, 64), 64)
	if err != nil {
		return x
	}
	return v
}

// unitScores reads the official score rows' per-unit values of the
// entries in top (by submission id), and the rows' ids.
func (s *Service) unitScores(ctx context.Context, c db.Competition, top []Entry) (units map[int64][]byte, rowID map[int64]int64, err error) {
	units = make(map[int64][]byte, len(top))
	rowID = make(map[int64]int64, len(top))
	for i := 0; i < len(top); i += unitChunk {
		ids := make([]sqlNullInt64, 0, unitChunk)
		for _, e := range top[i:min(i+unitChunk, len(top))] {
			ids = append(ids, sqlNullInt(e.SubmissionID))
		}
		rows, err := s.st.OfficialUnitScores(ctx, ids)
		if err != nil {
			return nil, nil, fmt.Errorf("unit scores of %s: %w", c.Slug, err)
		}
		for _, r := range rows {
			units[r.SubmissionID] = []byte(r.UnitScores.String)
			rowID[r.SubmissionID] = r.ID
		}
	}
	return units, rowID, nil
}

// boardUnits are the holdout units of this board's part: nil (all) without
// a split, else the public units, or the private ones when private.
// ErrNotOpen: the competition has no holdout yet.
func (s *Service) boardUnits(ctx context.Context, c db.Competition, private bool) ([]bool, error) {
	sp, split := splitOf(c)
	if !split {
		return nil, nil
	}
	h, err := s.holdoutOf(ctx, c)
	if err != nil {
		return nil, err
	}
	keep, err := s.eng.PublicUnits(ctx, h, sp)
	if err != nil {
		return nil, fmt.Errorf("split of %s: %w", c.Slug, err)
	}
	if private {
		for i := range keep {
			keep[i] = !keep[i]
		}
	}
	return keep, nil
}

// unitVectors decodes each entry's per-unit values, restricted to the
// board's part (keep); nil for an entry without readable values or scored
// on another holdout version (rescoring will replace it).
func (s *Service) unitVectors(c db.Competition, top []Entry, units map[int64][]byte, keep []bool) [][]float64 {
	vecs := make([][]float64, len(top))
	for i, e := range top {
		p := units[e.SubmissionID]
		if p == nil {
			continue
		}
		v, err := signif.Decode(p)
		if err != nil {
			s.log.Warn("unreadable unit scores", "competition", c.Slug, "submission_id", e.SubmissionID, "err", err.Error())
			continue
		}
		if keep != nil {
			if len(v) != len(keep) {
				continue
			}
			part := make([]float64, 0, len(v))
			for u, x := range v {
				if keep[u] {
					part = append(part, x)
				}
			}
			v = part
		}
		vecs[i] = v
	}
	return vecs
}
