package competitions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/medforge/medforge/internal/text"

	"github.com/medforge/medforge/engine/spec"
	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/db"
)

// Errors the service returns; httpcomp maps them to problems.
var (
	// ErrNotFound: the competition, dataset, file or submission does not
	// exist or is not visible to the caller (the two are indistinguishable).
	ErrNotFound = errors.New("not found")
	// ErrForbidden: the caller may see the thing but not change it.
	ErrForbidden = errors.New("forbidden")
	// ErrNotOpen: the competition has no holdout or scorer yet.
	ErrNotOpen = errors.New("competition is not open for submissions")
	// ErrBusy: another worker holds the submission's lease.
	ErrBusy = errors.New("submission is being scored by another worker")
)

// CapError is a submission refused by the daily cap. RetryAfter is the time
// until the next UTC midnight.
type CapError struct {
	Cap        int
	RetryAfter time.Duration
}

func (e *CapError) Error() string {
	return fmt.Sprintf("daily submission cap of %d reached; retry after %s", e.Cap, e.RetryAfter.Round(time.Second))
}

// Viewer is who is asking. The zero Viewer is anonymous.
type Viewer struct {
	UserID int64
	// Admin: role admin. Internal: can_use_internal. Author: can_author.
	Admin    bool
	Internal bool
	Author   bool
}

func (v Viewer) sees(exposure db.CompetitionsExposure) bool {
	return exposure != db.CompetitionsExposureINTERNAL || v.Internal
}

// Deps are what a Service is built from. Store, Engine and Roots are
// required.
type Deps struct {
	Store  store.Store
	Engine Engine
	Roots  Roots
	Logger *slog.Logger
	// Now is the clock (time.Now when nil); tests move it across midnight.
	Now func() time.Time
	// MaxSubmissionBytes bounds an uploaded file (MEDFORGE_BODY_LIMIT;
	// default 64 MiB): SubmitFrom stops reading past it. The Engine's
	// validation limit and the HTTP server's body limit are the same
	// setting.
	MaxSubmissionBytes int
	// BuiltinScorers is the folder of built-in modules (<metric>.wasm); an
	// author's draft whose metric names one gets it as its scorer.
	BuiltinScorers string
	// MaxAuthorDailyCap bounds the daily cap an author may set (default 100).
	MaxAuthorDailyCap int
	// Limits are the sandbox's limits, listed in certification reports.
	Limits ScoringLimits
	// SandboxJobs makes this service hand every run of an uploaded module
	// it would do itself (scorer-upload validation, certification reports)
	// to a scoring worker as a sandbox job (sandboxjobs.go): the API server
	// sets it, so it never loads an uploaded module. SandboxJobWait is how
	// long a request waits for its job by default (DefaultJobWait when 0;
	// not at all when negative).
	SandboxJobs    bool
	SandboxJobWait time.Duration
}

// ScoringLimits are the sandbox limits of one scoring.
type ScoringLimits struct {
	Timeout     time.Duration
	MemoryBytes uint64
}

// Service is the competitions capability. It is safe for concurrent use.
type Service struct {
	st     store.Store
	eng    Engine
	roots  Roots
	log    *slog.Logger
	now    func() time.Time
	maxLen int
	// validated hands submissions aligned at intake to this process's worker.
	validated *handoff
	wake      *notifier // new work queued in this process
	done      *waiters  // submissions finished in this process
	boards    *boardCache
	// sigCache holds each board's last paired comparison (under mu).
	sigCache map[boardKey]sigResult
	mu       sync.Mutex
	wasm     map[string][]byte // scorer bytes by digest
	// Immutable rows, cached by id.
	holdouts map[int64]db.HoldoutVersion
	scorers  map[int64]db.ScorerModule
	metrics  serviceMetrics
	// Authoring.
	builtins     string
	maxAuthorCap int
	limits       ScoringLimits
	certLocks    sync.Map // competition id -> *sync.Mutex
	// Sandbox jobs (Deps.SandboxJobs).
	sandboxJobs bool
	sandboxWait time.Duration
	// intake serializes, in this process, the accepting transactions of
	// one user in one competition (striped by a hash), so a crowd of
	// concurrent uploads queues here instead of piling up row-lock waits
	// that MariaDB's deadlock detector may pick victims from. The database
	// locks still decide across processes.
	intake [64]sync.Mutex
}

// intakeLock is the stripe of (competition, user).
func (s *Service) intakeLock(competitionID, userID int64) *sync.Mutex {
	h := uint64(competitionID)*0x9e3779b97f4a7c15 ^ uint64(userID)*0xbf58476d1ce4e5b9
	return &s.intake[(h>>32)%uint64(len(s.intake))]
}

// New builds a Service. It creates the roots when missing.
func New(d Deps) (*Service, error) {
	if d.Store == nil || d.Engine == nil {
		return nil, errors.New("competitions: Store and Engine are required")
	}
	if err := d.Roots.Validate(); err != nil {
		return nil, fmt.Errorf("competitions: %w", err)
	}
	if err := d.Roots.Ensure(); err != nil {
		return nil, fmt.Errorf("competitions: %w", err)
	}
	s := &Service{st: d.Store, eng: d.Engine, roots: d.Roots, log: d.Logger, now: d.Now,
		maxLen: d.MaxSubmissionBytes, validated: newHandoff(), wake: newNotifier(), done: newWaiters(), holdouts: map[int64]db.HoldoutVersion{}, scorers: map[int64]db.ScorerModule{}, boards: newBoardCache(), sigCache: map[boardKey]sigResult{}, wasm: map[string][]byte{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxLen <= 0 {
		s.maxLen = 64 << 20
	}
	s.builtins, s.maxAuthorCap, s.limits = d.BuiltinScorers, d.MaxAuthorDailyCap, d.Limits
	s.sandboxJobs, s.sandboxWait = d.SandboxJobs, d.SandboxJobWait
	switch {
	case s.sandboxWait == 0:
		s.sandboxWait = DefaultJobWait
	case s.sandboxWait < 0:
		s.sandboxWait = 0
	}
	if s.maxAuthorCap <= 0 {
		s.maxAuthorCap = 100
	}
	s.sweepStaging()
	return s, nil
}

// MaxSubmissionBytes is the largest submission file Submit accepts; the
// HTTP adapter reads uploads up to it.
func (s *Service) MaxSubmissionBytes() int64 { return int64(s.maxLen) }

// Competition is the public view of a competition.
type Competition struct {
	Slug              string   `json:"slug"`
	Title             string   `json:"title"`
	Description       string   `json:"description"`
	Exposure          string   `json:"exposure"`
	ScoringMode       string   `json:"scoring_mode"`
	LeaderboardRule   string   `json:"leaderboard_rule"`
	EvaluationPolicy  string   `json:"evaluation_policy"`
	Metric            string   `json:"metric"`
	HigherIsBetter    bool     `json:"higher_is_better"`
	DailyCap          int      `json:"daily_cap"`
	DatasetSlug       string   `json:"dataset_slug"`
	SubmissionColumns []string `json:"submission_columns"`
	HoldoutVersion    int      `json:"holdout_version"`
	ScorerDigest      string   `json:"scorer_digest,omitempty"`
	// PublicFraction is the share of holdout units on the public board
	// (public_private mode only).
	PublicFraction float64 `json:"public_fraction,omitempty"`
	// DisplayDigits: significant digits of the public scores participants see.
	DisplayDigits int `json:"display_digits"`
	// FinalLimit is how many submissions a participant may mark final;
	// SelectionDeadline ends that (none for permanent competitions).
	FinalLimit        int        `json:"final_limit"`
	SelectionDeadline *time.Time `json:"selection_deadline,omitempty"`
	// PrivateRevealedAt is when the private board became public.
	PrivateRevealedAt *time.Time `json:"private_revealed_at,omitempty"`
	CreatedAt         time.Time  `json:"created_at"`
}

func (s *Service) view(ctx context.Context, c db.Competition) (Competition, error) {
	ds, err := s.st.GetDataset(ctx, c.DatasetID)
	if err != nil {
		return Competition{}, fmt.Errorf("dataset of competition %s: %w", c.Slug, err)
	}
	out := Competition{
		Slug: c.Slug, Title: c.Title, Description: c.Description, Exposure: string(c.Exposure),
		ScoringMode: string(c.ScoringMode), LeaderboardRule: string(c.LeaderboardRule),
		EvaluationPolicy: string(c.EvaluationPolicy), Metric: c.Metric, HigherIsBetter: c.HigherIsBetter,
		DailyCap: int(c.DailyCap), DatasetSlug: ds.Slug, CreatedAt: c.CreatedAt.UTC(),
		DisplayDigits: int(c.DisplayDigits), FinalLimit: int(c.FinalLimit),
	}
	if c.ScoringMode == db.CompetitionsScoringModePublicPrivate {
		out.PublicFraction = c.PublicFraction
	}
	if c.SelectionDeadline.Valid {
		t := c.SelectionDeadline.Time.UTC()
		out.SelectionDeadline = &t
	}
	if c.PrivateRevealedAt.Valid {
		t := c.PrivateRevealedAt.Time.UTC()
		out.PrivateRevealedAt = &t
	}
	if sp, err := specOf(c); err == nil {
		out.SubmissionColumns = sp.SubmissionHeader()
	}
	if c.CurrentHoldoutID.Valid {
		if h, err := s.st.GetHoldoutVersion(ctx, c.CurrentHoldoutID.Int64); err == nil {
			out.HoldoutVersion = int(h.Version)
		}
	}
	if c.CurrentScorerID.Valid {
		if m, err := s.st.GetScorerModule(ctx, c.CurrentScorerID.Int64); err == nil {
			out.ScorerDigest = m.Digest
		}
	}
	return out, nil
}

func specOf(c db.Competition) (spec.Spec, error) {
	var sp spec.Spec
	if err := json.Unmarshal([]byte(c.SpecJson), &sp); err != nil {
		return sp, fmt.Errorf("spec of competition %s: %w", c.Slug, err)
	}
	return sp, nil
}

// competition returns the competition row visible to v, or ErrNotFound.
func (s *Service) competition(ctx context.Context, v Viewer, slug string) (db.Competition, error) {
	c, err := s.st.GetCompetitionBySlug(ctx, slug)
	if store.IsNotFound(err) {
		return c, ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("get competition %q: %w", slug, err)
	}
	if !v.seesCompetition(c) {
		return c, ErrNotFound
	}
	return c, nil
}

// ListCompetitions returns the competitions v may see, by slug.
func (s *Service) ListCompetitions(ctx context.Context, v Viewer) ([]Competition, error) {
	rows, err := s.st.ListCompetitions(ctx)
	if err != nil {
		return nil, fmt.Errorf("list competitions: %w", err)
	}
	out := []Competition{}
	for _, c := range rows {
		if !v.seesCompetition(c) {
			continue
		}
		cv, err := s.view(ctx, c)
		if err != nil {
			return nil, err
		}
		out = append(out, cv)
	}
	return out, nil
}

// GetCompetition returns one competition visible to v, or ErrNotFound.
func (s *Service) GetCompetition(ctx context.Context, v Viewer, slug string) (Competition, error) {
	c, err := s.competition(ctx, v, slug)
	if err != nil {
		return Competition{}, err
	}
	return s.view(ctx, c)
}

// holdoutOf returns the competition's current holdout, ready for the Engine.
func (s *Service) holdoutOf(ctx context.Context, c db.Competition) (Holdout, error) {
	if !c.CurrentHoldoutID.Valid {
		return Holdout{}, ErrNotOpen
	}
	return s.holdoutByID(ctx, c, c.CurrentHoldoutID.Int64)
}

func (s *Service) holdoutByID(ctx context.Context, c db.Competition, id int64) (Holdout, error) {
	s.mu.Lock()
	h, ok := s.holdouts[id]
	s.mu.Unlock()
	if !ok {
		var err error
		if h, err = s.st.GetHoldoutVersion(ctx, id); err != nil {
			return Holdout{}, fmt.Errorf("holdout %d of %s: %w", id, c.Slug, err)
		}
		s.mu.Lock()
		s.holdouts[id] = h
		s.mu.Unlock()
	}
	p, err := resolve(s.roots.Holdouts, h.Path)
	if err != nil {
		return Holdout{}, fmt.Errorf("holdout %d of %s: %w", id, c.Slug, err)
	}
	sp, err := specOf(c)
	if err != nil {
		return Holdout{}, err
	}
	return Holdout{ID: h.ID, Digest: h.Digest, Path: p, Rows: int(h.RowCount), Spec: sp}, nil
}

// scorerOf returns the competition's current scorer module bytes.
func (s *Service) scorerOf(ctx context.Context, c db.Competition) (ScorerModule, error) {
	if !c.CurrentScorerID.Valid {
		return ScorerModule{}, ErrNotOpen
	}
	s.mu.Lock()
	row, ok := s.scorers[c.CurrentScorerID.Int64]
	s.mu.Unlock()
	if !ok {
		var err error
		if row, err = s.st.GetScorerModule(ctx, c.CurrentScorerID.Int64); err != nil {
			return ScorerModule{}, fmt.Errorf("scorer of %s: %w", c.Slug, err)
		}
		s.mu.Lock()
		s.scorers[row.ID] = row
		s.mu.Unlock()
	}
	var err error
	s.mu.Lock()
	wasm, ok := s.wasm[row.Digest]
	s.mu.Unlock()
	if !ok {
		wasm, err = readBlob(s.roots.Scorers, row.Path, row.Digest)
		if err != nil {
			return ScorerModule{}, fmt.Errorf("scorer of %s: %w", c.Slug, err)
		}
		s.mu.Lock()
		s.wasm[row.Digest] = wasm
		s.mu.Unlock()
	}
	return ScorerModule{ID: row.ID, Digest: row.Digest, Wasm: wasm}, nil
}

// audit records an audit event; failures are logged, not returned.
func (s *Service) audit(ctx context.Context, q store.Store, actor int64, action, targetType, targetID, detail string) error {
	var a = db.InsertAuditEventParams{Action: action, TargetType: targetType, TargetID: targetID, Detail: text.Truncate(detail, 1024)}
	if actor > 0 {
		a.ActorUserID.Int64, a.ActorUserID.Valid = actor, true
	}
	return q.InsertAuditEvent(ctx, a)
}
