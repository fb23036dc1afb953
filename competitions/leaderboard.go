package competitions

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/db"
)

// Entry is one leaderboard row: a user's best official score.
type Entry struct {
	Rank         int      `json:"rank"`
	DisplayName  string   `json:"display_name"`
	Score        float64  `json:"score"`
	CILow        *float64 `json:"ci_low,omitempty"`
	CIHigh       *float64 `json:"ci_high,omitempty"`
	SubmissionID int64    `json:"submission_id"`
	// Submissions counts every accepted submission of the user, scored or not.
	Submissions    int       `json:"submission_count"`
	LastSubmission time.Time `json:"last_submission_at"`
	// NotSignificant marks an entry whose gap to the entry above is not
	// significant: the two 95% intervals overlap.
	NotSignificant bool `json:"not_significant"`
	userID         int64
	bestAt         time.Time
}

// Leaderboard is a ranked competition board.
type Leaderboard struct {
	Competition    string  `json:"competition"`
	HigherIsBetter bool    `json:"higher_is_better"`
	Version        int64   `json:"version"`
	Total          int     `json:"total"`
	Entries        []Entry `json:"entries"`

	pages *pageCache // encoded pages of this version
}

type pageCache struct {
	mu sync.Mutex
	m  map[[2]int][]byte
}

type boardCache struct {
	mu     sync.Mutex
	boards map[int64]*Leaderboard
	build  map[int64]*sync.Mutex
}

func newBoardCache() *boardCache {
	return &boardCache{boards: map[int64]*Leaderboard{}, build: map[int64]*sync.Mutex{}}
}

func (b *boardCache) get(id, version int64) *Leaderboard {
	b.mu.Lock()
	defer b.mu.Unlock()
	if lb := b.boards[id]; lb != nil && lb.Version >= version {
		return lb
	}
	return nil
}

func (b *boardCache) lock(id int64) *sync.Mutex {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.build[id]
	if m == nil {
		m = &sync.Mutex{}
		b.build[id] = m
	}
	return m
}

func (b *boardCache) put(id int64, lb *Leaderboard) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if old := b.boards[id]; old == nil || old.Version <= lb.Version {
		b.boards[id] = lb
	}
}

// Leaderboard returns the competition's board from offset, at most limit
// entries (limit <= 0: all). It is always as fresh as the last committed
// official-score change: every read checks the competition's
// leaderboard_version, and a board is rebuilt (once per process, however
// many readers wait) only when it moved.
func (s *Service) Leaderboard(ctx context.Context, v Viewer, slug string, offset, limit int) (Leaderboard, error) {
	c, err := s.competition(ctx, v, slug)
	if err != nil {
		return Leaderboard{}, err
	}
	lb, err := s.board(ctx, c)
	if err != nil {
		return Leaderboard{}, err
	}
	return lb.page(offset, limit), nil
}

func (lb *Leaderboard) page(offset, limit int) Leaderboard {
	out := Leaderboard{Competition: lb.Competition, HigherIsBetter: lb.HigherIsBetter, Version: lb.Version, Total: lb.Total}
	offset = min(max(offset, 0), len(lb.Entries))
	end := len(lb.Entries)
	if limit > 0 && offset+limit < end {
		end = offset + limit
	}
	out.Entries = lb.Entries[offset:end]
	return out
}

// LeaderboardJSON is Leaderboard encoded as JSON. Pages are encoded once per
// board version (the first 32 distinct pages are kept), so a read costs a
// version check and a copy.
func (s *Service) LeaderboardJSON(ctx context.Context, v Viewer, slug string, offset, limit int) ([]byte, error) {
	c, err := s.competition(ctx, v, slug)
	if err != nil {
		return nil, err
	}
	lb, err := s.board(ctx, c)
	if err != nil {
		return nil, err
	}
	key := [2]int{offset, limit}
	pc := lb.pages
	pc.mu.Lock()
	b, ok := pc.m[key]
	pc.mu.Unlock()
	if ok {
		return b, nil
	}
	p := lb.page(offset, limit)
	if b, err = json.Marshal(&p); err != nil {
		return nil, fmt.Errorf("encode leaderboard: %w", err)
	}
	pc.mu.Lock()
	if len(pc.m) < 32 {
		pc.m[key] = b
	}
	pc.mu.Unlock()
	return b, nil
}

func (s *Service) board(ctx context.Context, c db.Competition) (*Leaderboard, error) {
	version, err := s.st.GetLeaderboardVersion(ctx, c.ID)
	if err != nil {
		return nil, fmt.Errorf("leaderboard version of %s: %w", c.Slug, err)
	}
	if lb := s.boards.get(c.ID, version); lb != nil {
		return lb, nil
	}
	m := s.boards.lock(c.ID)
	m.Lock()
	defer m.Unlock()
	if lb := s.boards.get(c.ID, version); lb != nil {
		return lb, nil
	}
	// Read the version again inside the build: rows read after it are at
	// least that fresh, so caching them under it is safe.
	version, err = s.st.GetLeaderboardVersion(ctx, c.ID)
	if err != nil {
		return nil, fmt.Errorf("leaderboard version of %s: %w", c.Slug, err)
	}
	rows, err := s.st.CompetitionLeaderboardEntries(ctx, c.ID)
	if err != nil {
		return nil, fmt.Errorf("leaderboard of %s: %w", c.Slug, err)
	}
	lb := &Leaderboard{Competition: c.Slug, HigherIsBetter: c.HigherIsBetter, Version: version,
		pages: &pageCache{m: map[[2]int][]byte{}}}
	lb.Entries = Rank(rows, c.HigherIsBetter)
	lb.Total = len(lb.Entries)
	s.boards.put(c.ID, lb)
	return lb, nil
}

// updateBest recomputes the user's best official submission on their
// leaderboard entry, inside the transaction that changed an official score.
func updateBest(ctx context.Context, tx store.Store, c db.Competition, userID int64) error {
	key := db.BestUserSubmissionHighParams{CompetitionID: c.ID, UserID: userID}
	var best db.BestUserSubmissionHighRow
	var err error
	if c.HigherIsBetter {
		best, err = tx.BestUserSubmissionHigh(ctx, key)
	} else {
		var low db.BestUserSubmissionLowRow
		low, err = tx.BestUserSubmissionLow(ctx, db.BestUserSubmissionLowParams(key))
		best = db.BestUserSubmissionHighRow(low)
	}
	p := db.SetLeaderboardBestParams{CompetitionID: c.ID, UserID: userID}
	switch {
	case store.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("best submission of user %d: %w", userID, err)
	default:
		p.BestSubmissionID = sqlNullInt(best.ID)
		p.BestScore, p.BestCiLow, p.BestCiHigh = best.PrimaryScore, best.CiLow, best.CiHigh
		p.BestAt = timeArg(best.CreatedAt)
	}
	if err := tx.SetLeaderboardBest(ctx, p); err != nil {
		return fmt.Errorf("set best submission of user %d: %w", userID, err)
	}
	return nil
}

// better reports whether a ranks above b: the better score in the
// competition's direction, then the earlier submission, then the lower
// submission id. It is a strict total order, so ranking never depends on
// the order rows arrive in.
func better(aScore float64, aAt time.Time, aID int64, bScore float64, bAt time.Time, bID int64, higher bool) bool {
	if aScore != bScore {
		return aScore > bScore == higher
	}
	if !aAt.Equal(bAt) {
		return aAt.Before(bAt)
	}
	return aID < bID
}

// Rank orders leaderboard entries (each user's best official submission,
// see better) and numbers them 1..n; entries without a best are left out.
func Rank(rows []db.CompetitionLeaderboardEntriesRow, higher bool) []Entry {
	out := make([]Entry, 0, len(rows))
	for _, r := range rows {
		if !r.BestSubmissionID.Valid || !r.BestScore.Valid {
			continue
		}
		e := Entry{userID: r.UserID, DisplayName: r.DisplayName, Score: r.BestScore.Float64,
			SubmissionID: r.BestSubmissionID.Int64, Submissions: int(r.Submissions),
			LastSubmission: r.LastSubmissionAt.UTC(), bestAt: r.BestAt.Time}
		if r.BestCiLow.Valid && r.BestCiHigh.Valid {
			lo, hi := r.BestCiLow.Float64, r.BestCiHigh.Float64
			e.CILow, e.CIHigh = &lo, &hi
		}
		if e.DisplayName == "" {
			e.DisplayName = fmt.Sprintf("user-%d", e.userID)
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int {
		if better(a.Score, a.bestAt, a.SubmissionID, b.Score, b.bestAt, b.SubmissionID, higher) {
			return -1
		}
		if a.SubmissionID == b.SubmissionID {
			return 0
		}
		return 1
	})
	for i := range out {
		out[i].Rank = i + 1
		if i > 0 {
			out[i].NotSignificant = overlap(out[i-1], out[i])
		}
	}
	return out
}

// overlap reports whether two entries' intervals overlap; entries without an
// interval are never marked.
func overlap(a, b Entry) bool {
	if a.CILow == nil || b.CILow == nil {
		return false
	}
	return *a.CILow <= *b.CIHigh && *b.CILow <= *a.CIHigh
}
