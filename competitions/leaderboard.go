package competitions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/db"
)

// Boards of a competition.
const (
	BoardPublic  = "public"
	BoardPrivate = "private"
)

// Entry is one leaderboard row: a user's best official score (public
// board), or the best private score among their finals (private board).
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
	// The paired bootstrap comparison with the leader (see signif), null
	// when unavailable (no per-unit contributions, or beyond the entries
	// the comparison covers; Leaderboard.Significance says which).
	PValueVsLeader *float64 `json:"p_value_vs_leader"`
	DiffVsLeader   *float64 `json:"diff_vs_leader"`
	DiffLow        *float64 `json:"diff_low"`
	DiffHigh       *float64 `json:"diff_high"`
	RankLow        *int     `json:"rank_low"`
	RankHigh       *int     `json:"rank_high"`
	// TiedWithLeader: the difference from the leader is not significant
	// at 5% (the leader is tied with itself).
	TiedWithLeader *bool `json:"tied_with_leader"`
	// NotSignificant is kept for older clients: an entry below the leader
	// whose difference from it is not significant (TiedWithLeader). It
	// replaced the interval-overlap mark of the first release.
	NotSignificant bool `json:"not_significant"`
	userID         int64
	bestAt         time.Time
}

// Significance says what the board's comparison figures cover.
type Significance struct {
	// Available is false when the metric gives no per-unit contributions
	// (or none are stored yet): then every entry's figures are null.
	Available bool `json:"available"`
	// Method names the test.
	Method    string `json:"method,omitempty"`
	Resamples int    `json:"resamples,omitempty"`
	// Covered is how many entries, from the top, carry figures.
	Covered int    `json:"covered"`
	Note    string `json:"note,omitempty"`
}

// Leaderboard is a ranked competition board.
type Leaderboard struct {
	Competition    string `json:"competition"`
	Board          string `json:"board"`
	ScoringMode    string `json:"scoring_mode"`
	HigherIsBetter bool   `json:"higher_is_better"`
	// Revealed: the private board is public (public_private mode only).
	Revealed bool `json:"revealed"`
	// DisplayDigits: public scores are rounded to this many significant
	// digits for participants; ranking uses full precision.
	DisplayDigits int          `json:"display_digits,omitempty"`
	Version       int64        `json:"version"`
	Total         int          `json:"total"`
	Significance  Significance `json:"significance"`
	Entries       []Entry      `json:"entries"`

	pages *pageCache // encoded pages of this version
}

type pageCache struct {
	mu sync.Mutex
	m  map[[3]int][]byte
}

type boardCache struct {
	mu     sync.Mutex
	boards map[boardKey]*Leaderboard
	build  map[boardKey]*sync.Mutex
}

type boardKey struct {
	id      int64
	private bool
}

func newBoardCache() *boardCache {
	return &boardCache{boards: map[boardKey]*Leaderboard{}, build: map[boardKey]*sync.Mutex{}}
}

func (b *boardCache) get(k boardKey, version int64) *Leaderboard {
	b.mu.Lock()
	defer b.mu.Unlock()
	if lb := b.boards[k]; lb != nil && lb.Version >= version {
		return lb
	}
	return nil
}

func (b *boardCache) lock(k boardKey) *sync.Mutex {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.build[k]
	if m == nil {
		m = &sync.Mutex{}
		b.build[k] = m
	}
	return m
}

func (b *boardCache) put(k boardKey, lb *Leaderboard) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if old := b.boards[k]; old == nil || old.Version <= lb.Version {
		b.boards[k] = lb
	}
}

// privileged reports whether v owns or administers c: they see private
// scores before the reveal, and full precision.
func (v Viewer) privileged(c db.Competition) bool {
	return v.Admin || v.UserID != 0 && c.OwnerUserID.Valid && c.OwnerUserID.Int64 == v.UserID
}

// boardFor resolves which board v asks for and may see. The private board
// exists only in public_private mode and, before the reveal, only for
// owners and admins: for anyone else it is ErrNotFound, like a competition
// they cannot see.
func (s *Service) boardFor(ctx context.Context, v Viewer, slug, board string) (db.Competition, bool, error) {
	c, err := s.competition(ctx, v, slug)
	if err != nil {
		return c, false, err
	}
	switch board {
	case "", BoardPublic:
		return c, false, nil
	case BoardPrivate:
		if c.ScoringMode != db.CompetitionsScoringModePublicPrivate || !c.PrivateRevealedAt.Valid && !v.privileged(c) {
			return c, false, ErrNotFound
		}
		return c, true, nil
	}
	return c, false, ErrBadBoard
}

// ErrBadBoard: the board is neither public nor private.
var ErrBadBoard = errors.New("board must be public or private")

// Leaderboard returns a board of the competition (BoardPublic or
// BoardPrivate) from offset, at most limit entries (limit <= 0: all). It is
// always as fresh as the last committed official-score change: every read
// checks the competition's leaderboard_version, and a board is rebuilt
// (once per process, however many readers wait) only when it moved.
func (s *Service) Leaderboard(ctx context.Context, v Viewer, slug, board string, offset, limit int) (Leaderboard, error) {
	c, private, err := s.boardFor(ctx, v, slug, board)
	if err != nil {
		return Leaderboard{}, err
	}
	lb, err := s.board(ctx, c, private)
	if err != nil {
		return Leaderboard{}, err
	}
	return lb.page(offset, limit, s.rounds(c, v)), nil
}

// rounds reports whether v sees c's scores rounded: participants of a
// public_private competition do; owners and admins see full precision.
func (s *Service) rounds(c db.Competition, v Viewer) bool {
	return c.ScoringMode == db.CompetitionsScoringModePublicPrivate && !v.privileged(c)
}

func (lb *Leaderboard) page(offset, limit int, round bool) Leaderboard {
	out := *lb
	out.pages = nil
	offset = min(max(offset, 0), len(lb.Entries))
	end := len(lb.Entries)
	if limit > 0 && offset+limit < end {
		end = offset + limit
	}
	out.Entries = lb.Entries[offset:end]
	if round {
		out.Entries = slices.Clone(out.Entries)
		for i := range out.Entries {
			roundEntry(&out.Entries[i], lb.DisplayDigits)
		}
	}
	return out
}

// LeaderboardJSON is Leaderboard encoded as JSON. Pages are encoded once per
// board version (the first 32 distinct pages are kept), so a read costs a
// version check and a copy.
func (s *Service) LeaderboardJSON(ctx context.Context, v Viewer, slug, board string, offset, limit int) ([]byte, error) {
	c, private, err := s.boardFor(ctx, v, slug, board)
	if err != nil {
		return nil, err
	}
	lb, err := s.board(ctx, c, private)
	if err != nil {
		return nil, err
	}
	round := s.rounds(c, v)
	key := [3]int{offset, limit, 0}
	if round {
		key[2] = 1
	}
	pc := lb.pages
	pc.mu.Lock()
	b, ok := pc.m[key]
	pc.mu.Unlock()
	if ok {
		return b, nil
	}
	p := lb.page(offset, limit, round)
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

// board is c's board (public or private) at c's leaderboard_version. c must
// have been read from the database for this request (boardFor does): its
// version is the freshness check, so a read costs that one query when the
// board is cached.
func (s *Service) board(ctx context.Context, c db.Competition, private bool) (*Leaderboard, error) {
	version := c.LeaderboardVersion
	key := boardKey{c.ID, private}
	if lb := s.boards.get(key, version); lb != nil {
		return lb, nil
	}
	m := s.boards.lock(key)
	m.Lock()
	defer m.Unlock()
	if lb := s.boards.get(key, version); lb != nil {
		return lb, nil
	}
	// Read the competition and its version again inside the build: rows
	// read after it are at least that fresh, so caching them under it is
	// safe (and a reveal, which bumps the version, is seen).
	c, err := s.st.GetCompetition(ctx, c.ID)
	if err != nil {
		return nil, fmt.Errorf("competition %d: %w", c.ID, err)
	}
	version = c.LeaderboardVersion
	rows, err := s.st.CompetitionLeaderboardEntries(ctx, c.ID)
	if err != nil {
		return nil, fmt.Errorf("leaderboard of %s: %w", c.Slug, err)
	}
	lb := &Leaderboard{Competition: c.Slug, Board: BoardPublic, ScoringMode: string(c.ScoringMode),
		HigherIsBetter: c.HigherIsBetter, Version: version, Revealed: c.PrivateRevealedAt.Valid,
		pages: &pageCache{m: map[[3]int][]byte{}}}
	if c.ScoringMode == db.CompetitionsScoringModePublicPrivate {
		lb.DisplayDigits = int(c.DisplayDigits)
	}
	if private {
		lb.Board = BoardPrivate
		lb.Entries = RankPrivate(rows, c.HigherIsBetter)
	} else {
		lb.Entries = Rank(rows, c.HigherIsBetter)
	}
	lb.Total = len(lb.Entries)
	if err := s.compare(ctx, c, lb, private); err != nil {
		return nil, err
	}
	s.boards.put(key, lb)
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
	if c.ScoringMode == db.CompetitionsScoringModePublicPrivate {
		return updatePrivate(ctx, tx, c, userID)
	}
	return nil
}

// rerankAll recomputes every user's best on c after its direction flipped
// (the scores stay) and moves the board's version, so no process keeps
// serving a board ranked the old way while the rescoring runs.
func rerankAll(ctx context.Context, tx store.Store, c db.Competition) error {
	entries, err := tx.CompetitionLeaderboardEntries(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("leaderboard of %s: %w", c.Slug, err)
	}
	for _, e := range entries {
		if err := updateBest(ctx, tx, c, e.UserID); err != nil {
			return err
		}
	}
	if err := tx.BumpLeaderboardVersion(ctx, c.ID); err != nil {
		return fmt.Errorf("bump leaderboard of %s: %w", c.Slug, err)
	}
	return nil
}

// updatePrivate recomputes the user's private-board entry: the best private
// score among their final submissions or, when they marked none, among
// their FinalLimit best public ones (as on Kaggle). A user who marked
// finals of which none is scored yet has no private entry.
func updatePrivate(ctx context.Context, tx store.Store, c db.Competition, userID int64) error {
	rows, err := tx.UserScoredSubmissions(ctx, db.UserScoredSubmissionsParams{CompetitionID: c.ID, UserID: userID})
	if err != nil {
		return fmt.Errorf("submissions of user %d: %w", userID, err)
	}
	finals := make([]db.UserScoredSubmissionsRow, 0, len(rows))
	for _, r := range rows {
		if r.IsFinal {
			finals = append(finals, r)
		}
	}
	if len(finals) == 0 {
		marked, err := tx.CountUserFinals(ctx, db.CountUserFinalsParams{CompetitionID: c.ID, UserID: userID})
		if err != nil {
			return fmt.Errorf("finals of user %d: %w", userID, err)
		}
		if marked == 0 {
			slices.SortFunc(rows, func(a, b db.UserScoredSubmissionsRow) int {
				if better(a.PrimaryScore.Float64, a.CreatedAt, a.ID, b.PrimaryScore.Float64, b.CreatedAt, b.ID, c.HigherIsBetter) {
					return -1
				}
				return 1
			})
			finals = rows[:min(len(rows), int(c.FinalLimit))]
		}
	}
	p := db.SetLeaderboardPrivateParams{CompetitionID: c.ID, UserID: userID}
	var best *db.UserScoredSubmissionsRow
	for i, r := range finals {
		if !r.PrivateScore.Valid {
			continue
		}
		if best == nil || better(r.PrivateScore.Float64, r.CreatedAt, r.ID, best.PrivateScore.Float64, best.CreatedAt, best.ID, c.HigherIsBetter) {
			best = &finals[i]
		}
	}
	if best != nil {
		p.PrivateSubmissionID = sqlNullInt(best.ID)
		p.PrivateScore, p.PrivateCiLow, p.PrivateCiHigh = best.PrivateScore, best.PrivateCiLow, best.PrivateCiHigh
		p.PrivateAt = timeArg(best.CreatedAt)
	}
	if err := tx.SetLeaderboardPrivate(ctx, p); err != nil {
		return fmt.Errorf("set private entry of user %d: %w", userID, err)
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

// Rank orders the public board's entries (each user's best official
// submission, see better) and numbers them 1..n; entries without a best
// are left out.
func Rank(rows []db.CompetitionLeaderboardEntriesRow, higher bool) []Entry {
	out := make([]Entry, 0, len(rows))
	for _, r := range rows {
		if !r.BestSubmissionID.Valid || !r.BestScore.Valid {
			continue
		}
		out = append(out, entryOf(r, r.BestSubmissionID.Int64, r.BestScore.Float64, r.BestCiLow, r.BestCiHigh, r.BestAt.Time))
	}
	return ranked(out, higher)
}

// RankPrivate orders the private board: each user's best private score
// among their finals (see updatePrivate), with the same tie rule.
func RankPrivate(rows []db.CompetitionLeaderboardEntriesRow, higher bool) []Entry {
	out := make([]Entry, 0, len(rows))
	for _, r := range rows {
		if !r.PrivateSubmissionID.Valid || !r.PrivateScore.Valid {
			continue
		}
		out = append(out, entryOf(r, r.PrivateSubmissionID.Int64, r.PrivateScore.Float64, r.PrivateCiLow, r.PrivateCiHigh, r.PrivateAt.Time))
	}
	return ranked(out, higher)
}

func entryOf(r db.CompetitionLeaderboardEntriesRow, sub int64, score float64, lo, hi sqlNullFloat, at time.Time) Entry {
	e := Entry{userID: r.UserID, DisplayName: r.DisplayName, Score: score, SubmissionID: sub,
		Submissions: int(r.Submissions), LastSubmission: r.LastSubmissionAt.UTC(), bestAt: at}
	if lo.Valid && hi.Valid {
		l, h := lo.Float64, hi.Float64
		e.CILow, e.CIHigh = &l, &h
	}
	if e.DisplayName == "" {
		e.DisplayName = fmt.Sprintf("user-%d", e.userID)
	}
	return e
}

func ranked(out []Entry, higher bool) []Entry {
	slices.SortFunc(out, func(a, b Entry) int {
		if a.SubmissionID == b.SubmissionID {
			return 0
		}
		if better(a.Score, a.bestAt, a.SubmissionID, b.Score, b.bestAt, b.SubmissionID, higher) {
			return -1
		}
		return 1
	})
	for i := range out {
		out[i].Rank = i + 1
	}
	return out
}
