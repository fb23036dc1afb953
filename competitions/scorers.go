package competitions

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/medforge/medforge/internal/text"

	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/db"
)

// ScorerUpload is the outcome of UploadScorer.
type ScorerUpload struct {
	Digest  string           `json:"digest"`
	Name    string           `json:"name"`
	Version string           `json:"version"`
	Report  ValidationReport `json:"validation_report"`
	// Rescore is the job that rescores every submission with the new module
	// (nil when the module was already current).
	Rescore *RescoreJob `json:"rescore,omitempty"`
}

// UploadScorer validates wasm as a new scorer for the competition (ABI,
// imports, compilation, a run on the sample submission; the report is kept
// with the module), makes it current and queues every submission for
// rescoring, with an audit event. Only admins and the competition's owner
// may upload (ErrForbidden; ErrNotFound when the competition is not
// visible). A module that fails validation is a *ScorerRejectedError and
// changes nothing. With Deps.SandboxJobs a scoring worker validates it (a
// *PendingError when it takes longer than the request's wait; sending the
// same module again then uses the job's result).
func (s *Service) UploadScorer(ctx context.Context, v Viewer, slug, name, version string, wasm []byte) (ScorerUpload, error) {
	c, err := s.competition(ctx, v, slug)
	if err != nil {
		return ScorerUpload{}, err
	}
	if !v.Admin && !(c.OwnerUserID.Valid && c.OwnerUserID.Int64 == v.UserID && v.UserID != 0) {
		return ScorerUpload{}, ErrForbidden
	}
	h, err := s.holdoutOf(ctx, c)
	if err != nil {
		return ScorerUpload{}, err
	}
	sample, err := s.sampleSubmission(ctx, c)
	if err != nil {
		return ScorerUpload{}, err
	}
	var report ValidationReport
	if s.sandboxJobs && wellFormed(wasm) {
		report, err = s.remoteValidate(ctx, c, v.UserID, h, wasm, sample)
	} else {
		report, err = s.validateLocal(ctx, h, wasm, sample)
	}
	if err != nil {
		return ScorerUpload{Report: report}, err
	}
	digest, rel, err := putBlob(s.roots.Scorers, wasm, s.roots.Owner)
	if err != nil {
		return ScorerUpload{}, fmt.Errorf("store scorer: %w", err)
	}
	reportJSON, _ := json.Marshal(report)
	out := ScorerUpload{Digest: digest, Name: name, Version: version, Report: report}
	err = s.st.InTx(ctx, func(tx store.Store) error {
		out.Rescore = nil
		cur, err := tx.LockCompetition(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("lock competition: %w", err)
		}
		sm, err := tx.GetScorerModuleByDigest(ctx, digest)
		if store.IsNotFound(err) {
			p := db.InsertScorerModuleParams{Digest: digest, Name: text.Truncate(name, 64), Version: text.Truncate(version, 64),
				AbiVersion: report.ABIVersion, SizeBytes: int64(len(wasm)), Path: rel, ValidationReport: string(reportJSON),
				UploadedBy: sqlNullInt(v.UserID)}
			if sm.ID, err = tx.InsertScorerModule(ctx, p); err != nil {
				return fmt.Errorf("record scorer: %w", err)
			}
		} else if err != nil {
			return fmt.Errorf("get scorer: %w", err)
		}
		if cur.CurrentScorerID.Int64 == sm.ID {
			return nil
		}
		if err := tx.SetCompetitionScorer(ctx, db.SetCompetitionScorerParams{ID: c.ID, ScorerID: sqlNullInt(sm.ID)}); err != nil {
			return fmt.Errorf("switch scorer: %w", err)
		}
		if err := s.audit(ctx, tx, v.UserID, "competition.scorer_upload", "competition", c.Slug,
			"scorer "+digest+" "+name+" "+version); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		job, err := s.queueRescore(ctx, tx, cur, v.UserID, "new scorer "+digest[:12])
		if err != nil {
			return err
		}
		jv := jobView(c.Slug, job)
		out.Rescore = &jv
		return nil
	})
	if err != nil {
		return ScorerUpload{}, err
	}
	s.wake.Notify()
	return out, nil
}

// sampleSubmission reads the competition's sample submission.
func (s *Service) sampleSubmission(ctx context.Context, c db.Competition) ([]byte, error) {
	files, err := s.st.ListDatasetFiles(ctx, c.DatasetID)
	if err != nil {
		return nil, fmt.Errorf("files of %s: %w", c.Slug, err)
	}
	for _, f := range files {
		if f.Kind == db.DatasetFilesKindSampleSubmission {
			p, err := resolve(s.roots.PublicEval, f.Path)
			if err != nil {
				return nil, err
			}
			return os.ReadFile(p)
		}
	}
	return nil, fmt.Errorf("competition %s has no sample submission", c.Slug)
}
