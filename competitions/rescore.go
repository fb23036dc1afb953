package competitions

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/medforge/medforge/internal/text"

	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/db"
)

// RescoreJob is a whole-competition rescoring and its progress.
type RescoreJob struct {
	ID          int64      `json:"id"`
	Competition string     `json:"competition"`
	Reason      string     `json:"reason"`
	Total       int        `json:"total"`
	Done        int        `json:"done"`
	Failed      int        `json:"failed"`
	State       string     `json:"state"` // running | finished
	CreatedAt   time.Time  `json:"created_at"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
}

func jobView(slug string, j db.RescoreJob) RescoreJob {
	out := RescoreJob{ID: j.ID, Competition: slug, Reason: j.Reason, Total: int(j.Total), Done: int(j.Done),
		Failed: int(j.Failed), State: "running", CreatedAt: j.CreatedAt.UTC()}
	if j.FinishedAt.Valid {
		t := j.FinishedAt.Time.UTC()
		out.FinishedAt, out.State = &t, "finished"
	}
	return out
}

// RescoreCompetition queues every idle submission of the competition for
// rescoring with its current scorer and holdout and returns the job, whose
// progress RescoreStatus reads. Each submission keeps its official score
// until its new one switches in atomically. actor 0 is a host-side command.
func (s *Service) RescoreCompetition(ctx context.Context, actor int64, slug, reason string) (RescoreJob, error) {
	c, err := s.st.GetCompetitionBySlug(ctx, slug)
	if store.IsNotFound(err) {
		return RescoreJob{}, ErrNotFound
	}
	if err != nil {
		return RescoreJob{}, fmt.Errorf("get competition %q: %w", slug, err)
	}
	var job db.RescoreJob
	err = s.st.InTx(ctx, func(tx store.Store) error {
		var err error
		job, err = s.queueRescore(ctx, tx, c, actor, reason)
		return err
	})
	if err != nil {
		return RescoreJob{}, err
	}
	s.wake.Notify()
	return jobView(c.Slug, job), nil
}

// queueRescore is RescoreCompetition inside the caller's transaction.
func (s *Service) queueRescore(ctx context.Context, tx store.Store, c db.Competition, actor int64, reason string) (db.RescoreJob, error) {
	if _, err := tx.LockCompetition(ctx, c.ID); err != nil {
		return db.RescoreJob{}, fmt.Errorf("lock competition %s: %w", c.Slug, err)
	}
	params := db.CreateRescoreJobParams{CompetitionID: c.ID, Reason: text.Truncate(reason, 255)}
	if actor > 0 {
		params.RequestedBy.Int64, params.RequestedBy.Valid = actor, true
	}
	id, err := tx.CreateRescoreJob(ctx, params)
	if err != nil {
		return db.RescoreJob{}, fmt.Errorf("create rescore job: %w", err)
	}
	n, err := tx.MarkCompetitionForRescore(ctx, db.MarkCompetitionForRescoreParams{
		RescoreJobID: sqlNullInt(id), CompetitionID: c.ID,
	})
	if err != nil {
		return db.RescoreJob{}, fmt.Errorf("queue rescoring: %w", err)
	}
	if err := tx.SetRescoreJobTotal(ctx, db.SetRescoreJobTotalParams{ID: id, Total: int32(n)}); err != nil {
		return db.RescoreJob{}, fmt.Errorf("queue rescoring: %w", err)
	}
	if err := s.audit(ctx, tx, actor, "competition.rescore", "competition", c.Slug,
		"job "+strconv.FormatInt(id, 10)+", "+strconv.FormatInt(n, 10)+" submissions: "+reason); err != nil {
		return db.RescoreJob{}, fmt.Errorf("audit rescore: %w", err)
	}
	return tx.GetRescoreJob(ctx, id)
}

// RescoreStatus returns a rescore job of the competition.
func (s *Service) RescoreStatus(ctx context.Context, slug string, id int64) (RescoreJob, error) {
	c, err := s.st.GetCompetitionBySlug(ctx, slug)
	if store.IsNotFound(err) {
		return RescoreJob{}, ErrNotFound
	}
	if err != nil {
		return RescoreJob{}, err
	}
	j, err := s.st.GetRescoreJob(ctx, id)
	if store.IsNotFound(err) || err == nil && j.CompetitionID != c.ID {
		return RescoreJob{}, ErrNotFound
	}
	if err != nil {
		return RescoreJob{}, err
	}
	return jobView(c.Slug, j), nil
}

// RescoreJobs lists the competition's latest rescore jobs, newest first.
func (s *Service) RescoreJobs(ctx context.Context, slug string) ([]RescoreJob, error) {
	c, err := s.st.GetCompetitionBySlug(ctx, slug)
	if store.IsNotFound(err) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	rows, err := s.st.ListRescoreJobs(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	out := make([]RescoreJob, len(rows))
	for i, j := range rows {
		out[i] = jobView(c.Slug, j)
	}
	return out, nil
}
