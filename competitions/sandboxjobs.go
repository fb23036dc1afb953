package competitions

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/medforge/medforge/internal/text"
	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/db"
)

// Sandbox jobs (docs/authoring.md, "Where uploaded modules run").
//
// A Service built with Deps.SandboxJobs (the API server) never loads an
// uploaded module itself: scorer-upload validation and certification
// reports become rows of sandbox_jobs, which a scoring worker (the worker
// service, or the embedded worker of `make run`) claims, runs in its own
// sandbox pool and finishes with the result. The API waits for the result
// up to the request's wait (JobWait; Deps.SandboxJobWait by default) and
// otherwise returns a *PendingError naming the job, which HTTP answers with
// 202; asking again once the job is done is answered from its result (a
// certification report is also kept in certification_reports). Jobs are
// keyed by competition, kind, module, holdout and sample submission, so a
// repeated request joins the job that is queued or running, or reuses the
// one that finished. A job whose worker dies is claimed again when its
// lease passes; after MaxAttempts claims it is failed and a new request
// queues a new one.

// Sandbox job kinds and statuses.
const (
	JobValidate = "validate"
	JobCertify  = "certify"

	JobQueued  = "queued"
	JobRunning = "running"
	JobDone    = "done"
	JobFailed  = "failed"
)

// SandboxJob is a validation or certification run queued for a scoring
// worker, as its requester sees it.
type SandboxJob struct {
	ID            int64      `json:"id"`
	Competition   string     `json:"competition"`
	Kind          string     `json:"kind"`   // validate | certify
	Status        string     `json:"status"` // queued | running | done | failed
	ScorerDigest  string     `json:"scorer_digest"`
	HoldoutDigest string     `json:"holdout_digest"`
	Attempts      int        `json:"attempts"`
	Error         string     `json:"error,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	StartedAt     *time.Time `json:"started_at,omitempty"`
	FinishedAt    *time.Time `json:"finished_at,omitempty"`
}

// PendingError says a sandbox job did not finish within the request's
// wait. The client polls the job and then sends the same request again.
type PendingError struct{ Job SandboxJob }

func (e *PendingError) Error() string {
	return fmt.Sprintf("%s job %d is %s in a scoring worker", e.Job.Kind, e.Job.ID, e.Job.Status)
}

type jobWaitKey struct{}

// JobWait returns ctx carrying how long a request waits for its sandbox
// job before a *PendingError (0: not at all).
func JobWait(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, jobWaitKey{}, d)
}

// DefaultJobWait is how long a request waits for its sandbox job when
// neither the request nor Deps says otherwise.
const DefaultJobWait = 20 * time.Second

func (s *Service) jobWait(ctx context.Context) time.Duration {
	if d, ok := ctx.Value(jobWaitKey{}).(time.Duration); ok {
		return d
	}
	return s.sandboxWait
}

func sandboxJobView(slug string, j db.SandboxJob) SandboxJob {
	v := SandboxJob{ID: j.ID, Competition: slug, Kind: string(j.Kind), Status: string(j.Status), ScorerDigest: j.ScorerDigest,
		HoldoutDigest: j.HoldoutDigest, Attempts: int(j.Attempts), Error: j.Error, CreatedAt: j.CreatedAt.UTC()}
	if j.StartedAt.Valid {
		t := j.StartedAt.Time.UTC()
		v.StartedAt = &t
	}
	if j.FinishedAt.Valid {
		t := j.FinishedAt.Time.UTC()
		v.FinishedAt = &t
	}
	return v
}

// SandboxJobOf returns a sandbox job of a competition v may author (or
// administer): ErrNotFound for another competition's job.
func (s *Service) SandboxJobOf(ctx context.Context, v Viewer, slug string, id int64) (SandboxJob, error) {
	c, err := s.authored(ctx, v, slug)
	if err != nil {
		return SandboxJob{}, err
	}
	j, err := s.st.GetSandboxJob(ctx, id)
	if store.IsNotFound(err) || err == nil && j.CompetitionID != c.ID {
		return SandboxJob{}, ErrNotFound
	}
	if err != nil {
		return SandboxJob{}, fmt.Errorf("sandbox job %d: %w", id, err)
	}
	return sandboxJobView(c.Slug, j), nil
}

// validationResult is a finished validate job's result_json.
type validationResult struct {
	Report   ValidationReport `json:"report"`
	Rejected bool             `json:"rejected"`
}

// remoteValidate is validateScorer done by a worker: the module is stored
// (content-addressed, so a module that fails leaves a file no row names),
// a validate job queued or joined, and its result awaited.
func (s *Service) remoteValidate(ctx context.Context, c db.Competition, actor int64, h Holdout, wasm, sample []byte) (ValidationReport, error) {
	j, err := s.awaitJob(ctx, c, actor, JobValidate, h, wasm, sample)
	if err != nil {
		return ValidationReport{}, err
	}
	var res validationResult
	if err := json.Unmarshal([]byte(j.ResultJson.String), &res); err != nil {
		return ValidationReport{}, fmt.Errorf("result of validate job %d: %w", j.ID, err)
	}
	if res.Rejected {
		return res.Report, &ScorerRejectedError{Report: res.Report}
	}
	return res.Report, nil
}

// remoteReport is computeReport done by a worker.
func (s *Service) remoteReport(ctx context.Context, c db.Competition, h Holdout, m ScorerModule, sample []byte) (CertificationReport, error) {
	j, err := s.awaitJob(ctx, c, 0, JobCertify, h, m.Wasm, sample)
	if err != nil {
		return CertificationReport{}, err
	}
	var r CertificationReport
	if err := json.Unmarshal([]byte(j.ResultJson.String), &r); err != nil {
		return r, fmt.Errorf("result of certify job %d: %w", j.ID, err)
	}
	return r, nil
}

// awaitJob queues (or joins) the job for this module, holdout and sample
// and waits for it up to the request's wait.
func (s *Service) awaitJob(ctx context.Context, c db.Competition, actor int64, kind string, h Holdout, wasm, sample []byte) (db.SandboxJob, error) {
	mDigest, mRel, err := putBlob(s.roots.Scorers, wasm, s.roots.Owner)
	if err != nil {
		return db.SandboxJob{}, fmt.Errorf("store scorer: %w", err)
	}
	hRel, err := filepath.Rel(s.roots.Holdouts, h.Path)
	if err != nil {
		return db.SandboxJob{}, fmt.Errorf("holdout %s: %w", h.Digest, err)
	}
	ssum := sha256.Sum256(sample)
	sampleSum := hex.EncodeToString(ssum[:])
	key := db.LatestSandboxJobParams{CompetitionID: c.ID, Kind: db.SandboxJobsKind(kind), ScorerDigest: mDigest, HoldoutDigest: h.Digest, SampleSha256: sampleSum}
	j, err := s.st.LatestSandboxJob(ctx, key)
	if store.IsNotFound(err) {
		p := db.InsertSandboxJobParams{CompetitionID: c.ID, Kind: key.Kind, ScorerDigest: mDigest, ScorerPath: mRel,
			HoldoutDigest: h.Digest, HoldoutPath: hRel, HoldoutRows: int32(h.Rows), SampleSha256: sampleSum}
		if actor > 0 {
			p.RequestedBy = sqlNullInt(actor)
		}
		id, err := s.st.InsertSandboxJob(ctx, p)
		if err != nil {
			return j, fmt.Errorf("queue %s job: %w", kind, err)
		}
		s.wake.Notify()
		if j, err = s.st.GetSandboxJob(ctx, id); err != nil {
			return j, fmt.Errorf("read %s job: %w", kind, err)
		}
	} else if err != nil {
		return j, fmt.Errorf("find %s job: %w", kind, err)
	}
	deadline := time.Now().Add(s.jobWait(ctx))
	for j.Status == db.SandboxJobsStatusQueued || j.Status == db.SandboxJobsStatusRunning {
		if !time.Now().Before(deadline) {
			return j, &PendingError{Job: sandboxJobView(c.Slug, j)}
		}
		t := time.NewTimer(min(100*time.Millisecond, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return j, ctx.Err()
		case <-t.C:
		}
		if j, err = s.st.GetSandboxJob(ctx, j.ID); err != nil {
			return j, fmt.Errorf("read %s job: %w", kind, err)
		}
	}
	if j.Status == db.SandboxJobsStatusFailed {
		return j, fmt.Errorf("%s job %d failed in the scoring worker: %s", kind, j.ID, j.Error)
	}
	return j, nil
}

// claimedJob is a leased sandbox job.
type claimedJob struct {
	job   db.SandboxJob
	token string
}

// runSandboxJob claims the oldest claimable sandbox job and runs it in this
// worker's sandbox pool. It reports whether there was one.
func (w *Worker) runSandboxJob(ctx context.Context) (bool, error) {
	s := w.s
	var cl *claimedJob
	err := s.st.InTx(ctx, func(tx store.Store) error {
		cl = nil
		now := s.now().UTC()
		id, err := tx.NextClaimableSandboxJob(ctx, timeArg(now))
		if store.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("find sandbox job: %w", err)
		}
		token := newToken()
		if _, err := tx.LeaseSandboxJob(ctx, db.LeaseSandboxJobParams{ID: id, LeaseOwner: text.Truncate(w.opts.Name, 128),
			LeaseToken: token, LeaseUntil: timeArg(now.Add(w.opts.Lease))}); err != nil {
			return fmt.Errorf("lease sandbox job %d: %w", id, err)
		}
		j, err := tx.GetSandboxJob(ctx, id)
		if err != nil {
			return err
		}
		cl = &claimedJob{job: j, token: token}
		return nil
	})
	if err != nil || cl == nil {
		return false, err
	}
	finish := func(status db.SandboxJobsStatus, result []byte, msg string) error {
		p := db.FinishSandboxJobParams{ID: cl.job.ID, LeaseToken: cl.token, Status: status, Error: text.Truncate(msg, 1024)}
		if result != nil {
			p.ResultJson = sql.NullString{String: string(result), Valid: true}
		}
		_, err := s.st.FinishSandboxJob(context.WithoutCancel(ctx), p)
		return err
	}
	if int(cl.job.Attempts) > w.opts.MaxAttempts {
		return true, finish(db.SandboxJobsStatusFailed, nil, fmt.Sprintf("gave up after %d attempts", w.opts.MaxAttempts))
	}
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := w.renewJob(jctx, cancel, cl)
	result, err := w.sandboxJob(jctx, cl.job)
	stop()
	if err != nil {
		if ctx.Err() != nil || jctx.Err() != nil {
			// Shutting down or the lease lost: another worker takes it.
			_, _ = s.st.ReleaseSandboxJob(context.WithoutCancel(ctx), db.ReleaseSandboxJobParams{ID: cl.job.ID, LeaseToken: cl.token})
			return true, nil
		}
		s.log.Error("sandbox job failed", "job", cl.job.ID, "kind", cl.job.Kind, "err", err.Error())
		if rerr := finish(db.SandboxJobsStatusFailed, nil, err.Error()); rerr != nil {
			return true, errors.Join(err, rerr)
		}
		return true, nil
	}
	return true, finish(db.SandboxJobsStatusDone, result, "")
}

// renewJob extends the job's lease every Lease/3 while it runs and cancels
// the run when the lease was lost.
func (w *Worker) renewJob(ctx context.Context, cancel context.CancelFunc, cl *claimedJob) func() {
	return w.keepLease(ctx, cancel, func(ctx context.Context, until sqlNullTime) (int64, error) {
		return w.s.st.RenewSandboxJob(ctx, db.RenewSandboxJobParams{ID: cl.job.ID, LeaseToken: cl.token, LeaseUntil: until})
	})
}

// sandboxJob runs one job in this process's sandbox and returns its result.
func (w *Worker) sandboxJob(ctx context.Context, j db.SandboxJob) ([]byte, error) {
	s := w.s
	c, err := s.st.GetCompetition(ctx, j.CompetitionID)
	if err != nil {
		return nil, fmt.Errorf("competition %d: %w", j.CompetitionID, err)
	}
	sp, err := specOf(c)
	if err != nil {
		return nil, err
	}
	hPath, err := resolve(s.roots.Holdouts, j.HoldoutPath)
	if err != nil {
		return nil, err
	}
	h := Holdout{Digest: j.HoldoutDigest, Path: hPath, Rows: int(j.HoldoutRows), Spec: sp}
	wasm, err := readBlob(s.roots.Scorers, j.ScorerPath, j.ScorerDigest)
	if err != nil {
		return nil, fmt.Errorf("scorer %s: %w", j.ScorerDigest, err)
	}
	sample, serr := s.sampleSubmission(ctx, c)
	switch j.Kind {
	case db.SandboxJobsKindValidate:
		if serr != nil {
			sample = nil // the "sample" check says so
		}
		rep, err := s.validateLocal(ctx, h, wasm, sample)
		var rej *ScorerRejectedError
		if err != nil && !errors.As(err, &rej) {
			return nil, err
		}
		return json.Marshal(validationResult{Report: rep, Rejected: rej != nil})
	case db.SandboxJobsKindCertify:
		if serr != nil {
			return nil, serr
		}
		ssum := sha256.Sum256(sample)
		r := CertificationReport{Competition: c.Slug, CheckedAt: s.now().UTC(), ScorerDigest: j.ScorerDigest,
			HoldoutDigest: j.HoldoutDigest, HoldoutRows: h.Rows, SampleSHA256: hex.EncodeToString(ssum[:])}
		if err := s.computeReport(ctx, c, &r, h, ScorerModule{Digest: j.ScorerDigest, Wasm: wasm}, sample); err != nil {
			return nil, err
		}
		return json.Marshal(r)
	}
	return nil, fmt.Errorf("unknown sandbox job kind %q", j.Kind)
}
