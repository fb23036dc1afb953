package competitions

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/medforge/medforge/internal/text"

	"github.com/medforge/medforge/engine/holdout"
	"github.com/medforge/medforge/engine/spec"
	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/db"
)

// Self-service authoring (docs/authoring.md). An author (can_author) creates
// an EXTERNAL competition as a draft that only they and admins can see,
// sets its public files, holdout and scorer, fetches its certification
// report and publishes it once every check passes.

// ErrConflict: the slug is taken (by any competition, visible or not).
var ErrConflict = errors.New("conflict")

// FieldError is one invalid field of an author's request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every invalid field of an author's request.
type ValidationError struct{ Fields []FieldError }

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid: " + strings.Join(parts, "; ")
}

// NotCertifiedError refuses a publish (or a change to a published
// competition) whose certification report has a failed check.
type NotCertifiedError struct{ Report CertificationReport }

func (e *NotCertifiedError) Error() string {
	if f := e.Report.Failed(); len(f) > 0 {
		return "not certified: " + strings.Join(f, ", ")
	}
	return "not certified"
}

// Draft is what an author sets when creating a competition. Update takes a
// DraftPatch instead.
type Draft struct {
	Slug        string        `json:"slug"`
	Title       string        `json:"title"`
	Description string        `json:"description"`
	Exposure    string        `json:"exposure,omitempty"` // EXTERNAL (default); INTERNAL needs an admin
	Metric      string        `json:"metric"`             // a built-in module name, or a label for an uploaded module
	Direction   string        `json:"direction"`          // maximize | minimize
	DailyCap    int           `json:"daily_cap"`
	IDColumn    string        `json:"id_column"`
	Columns     []spec.Column `json:"columns"`
	Layout      string        `json:"layout,omitempty"` // rows (default) | box-rows
	// Scoring mode and board settings (docs/leaderboards.md):
	// single_realtime_hidden (default) or public_private with its public
	// fraction (default 0.3), display digits (5), final limit (2) and an
	// optional selection deadline.
	ScoringMode       string     `json:"scoring_mode,omitempty"`
	PublicFraction    *float64   `json:"public_fraction,omitempty"`
	DisplayDigits     int        `json:"display_digits,omitempty"`
	FinalLimit        int        `json:"final_limit,omitempty"`
	SelectionDeadline *time.Time `json:"selection_deadline,omitempty"`
}

// scoring is d's scoring settings.
func (d Draft) scoring() ScoringSettings {
	ss := ScoringSettings{Mode: d.ScoringMode, DisplayDigits: d.DisplayDigits, FinalLimit: d.FinalLimit, SelectionDeadline: d.SelectionDeadline}
	if d.PublicFraction != nil {
		ss.PublicFraction = *d.PublicFraction
	}
	return ss
}

// DraftPatch changes some fields of a competition; nil fields stay. The
// submission spec (id column, columns, layout) may change only while the
// competition is a draft, and drops its holdout (which was built for the
// old spec).
type DraftPatch struct {
	Title       *string        `json:"title,omitempty"`
	Description *string        `json:"description,omitempty"`
	Metric      *string        `json:"metric,omitempty"`
	Direction   *string        `json:"direction,omitempty"`
	DailyCap    *int           `json:"daily_cap,omitempty"`
	IDColumn    *string        `json:"id_column,omitempty"`
	Columns     *[]spec.Column `json:"columns,omitempty"`
	Layout      *string        `json:"layout,omitempty"`
	// Scoring settings; scoring_mode and public_fraction only while the
	// competition has no submissions (the split never changes under scores).
	ScoringMode       *string    `json:"scoring_mode,omitempty"`
	PublicFraction    *float64   `json:"public_fraction,omitempty"`
	DisplayDigits     *int       `json:"display_digits,omitempty"`
	FinalLimit        *int       `json:"final_limit,omitempty"`
	SelectionDeadline *time.Time `json:"selection_deadline,omitempty"`
}

var slugRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$`)

// validate checks d and returns its spec; maxCap is the admin-set bound.
// Validate checks d as a competition definition, the fields every
// competition states whether it comes from an author's draft or an admin's
// bundle (competitions/bundle), with daily caps up to maxCap. It fills the
// defaults (EXTERNAL, rows), trims the title and metric, and returns the
// submission spec. Problems are a *ValidationError naming each field.
func (d *Draft) Validate(maxCap int) (spec.Spec, error) {
	d.Title, d.Metric = strings.TrimSpace(d.Title), strings.TrimSpace(d.Metric)
	if d.Exposure == "" {
		d.Exposure = "EXTERNAL"
	}
	if d.Layout == "" {
		d.Layout = string(spec.Rows)
	}
	var fe []FieldError
	bad := func(field, format string, a ...any) { fe = append(fe, FieldError{field, fmt.Sprintf(format, a...)}) }
	if !slugRE.MatchString(d.Slug) {
		bad("slug", "must be 1-64 lowercase letters, digits or '-', not starting or ending with '-', got %q", d.Slug)
	}
	if d.Title == "" || len(d.Title) > 200 {
		bad("title", "must be 1-200 characters")
	}
	if len(d.Description) > 60000 {
		bad("description", "must be at most 60000 bytes")
	}
	if d.Exposure != "EXTERNAL" && d.Exposure != "INTERNAL" {
		bad("exposure", "must be EXTERNAL or INTERNAL, got %q", d.Exposure)
	}
	if !slugRE.MatchString(d.Metric) {
		bad("metric", "must name a built-in metric (accuracy, top1, map-iou, roc-auc) or label your module with lowercase letters, digits or '-'")
	}
	if d.Direction != "maximize" && d.Direction != "minimize" {
		bad("direction", "must be maximize or minimize, got %q", d.Direction)
	}
	if d.DailyCap < 1 || d.DailyCap > maxCap {
		bad("daily_cap", "must be 1-%d, got %d", maxCap, d.DailyCap)
	}
	if d.IDColumn == "" {
		bad("id_column", "must name the id column")
	}
	if len(d.Columns) == 0 {
		bad("columns", "must list at least one column besides the id")
	}
	for i, c := range d.Columns {
		f := fmt.Sprintf("columns[%d]", i)
		if c.Name == "" {
			bad(f+".name", "must not be empty")
		}
		switch c.Type {
		case spec.Int:
			if c.Min > c.Max {
				bad(f+".min", "must not exceed max (%d > %d)", c.Min, c.Max)
			}
		case spec.Float:
		case spec.Boxes:
			if c.MaxBoxes < 0 || c.MaxBoxes > spec.MaxBoxesLimit {
				bad(f+".max_boxes", "must be 1-%d (or left out for %d), got %d", spec.MaxBoxesLimit, spec.DefaultMaxBoxes, c.MaxBoxes)
			}
		default:
			bad(f+".type", "must be int, float or boxes, got %q", c.Type)
		}
		if c.Type != spec.Boxes && c.MaxBoxes != 0 {
			bad(f+".max_boxes", "applies only to boxes columns")
		}
	}
	if d.Layout != string(spec.Rows) && d.Layout != string(spec.BoxRows) {
		bad("layout", "must be rows or box-rows, got %q", d.Layout)
	}
	if err := d.scoring().Validate(); err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			fe = append(fe, ve.Fields...)
		}
	}
	sp := spec.Spec{Slug: d.Slug, Metric: d.Metric, HigherIsBetter: d.Direction == "maximize", ID: d.IDColumn,
		Columns: append([]spec.Column(nil), d.Columns...), Layout: spec.Layout(d.Layout)}
	if len(fe) == 0 {
		if err := sp.Validate(); err != nil {
			bad("columns", "%v", err)
		}
	}
	if len(fe) > 0 {
		return sp, &ValidationError{Fields: fe}
	}
	return sp, nil
}

// AuthorCompetition is the owner's view of a competition: the public view
// plus its state, submission spec, files and the metadata (never the
// bytes) of its holdout and scorer.
type AuthorCompetition struct {
	Competition
	Published   bool          `json:"published"`
	PublishedAt *time.Time    `json:"published_at,omitempty"`
	Direction   string        `json:"direction"`
	IDColumn    string        `json:"id_column"`
	Columns     []spec.Column `json:"columns"`
	Layout      string        `json:"layout"`
	Files       []DatasetFile `json:"files"`
	Holdout     *HoldoutInfo  `json:"holdout,omitempty"`
	Scorer      *ScorerInfo   `json:"scorer,omitempty"`
	// Certified says the current scorer, holdout and sample submission have
	// an ok certification report (publishing needs one).
	Certified bool `json:"certified"`
}

// HoldoutInfo describes a stored holdout version: never its content.
type HoldoutInfo struct {
	Version   int       `json:"version"`
	Digest    string    `json:"digest"`
	Rows      int       `json:"rows"`
	CreatedAt time.Time `json:"created_at"`
	// Rescore is the rescoring a new holdout of a published competition queued.
	Rescore *RescoreJob `json:"rescore,omitempty"`
}

// ScorerInfo describes the current scorer module.
type ScorerInfo struct {
	Digest    string `json:"digest"`
	Name      string `json:"name"`
	Version   string `json:"version"`
	SizeBytes int64  `json:"size_bytes"`
	Builtin   bool   `json:"builtin"`
	// Rescore is the rescoring a new scorer of a published competition queued.
	Rescore *RescoreJob `json:"rescore,omitempty"`
}

func (v Viewer) owns(c db.Competition) bool {
	return v.UserID != 0 && c.OwnerUserID.Valid && c.OwnerUserID.Int64 == v.UserID
}

// seesCompetition is the visibility rule: INTERNAL needs can_use_internal,
// and a draft is visible only to its owner and admins.
func (v Viewer) seesCompetition(c db.Competition) bool {
	return v.sees(c.Exposure) && (c.Published || v.Admin || v.owns(c))
}

// authored returns the competition the viewer may author: ErrForbidden for
// a viewer who is neither an author nor an admin, ErrNotFound for a
// competition that does not exist or that the viewer neither owns nor
// administers (indistinguishable, so drafts stay secret).
func (s *Service) authored(ctx context.Context, v Viewer, slug string) (db.Competition, error) {
	if v.UserID == 0 || !v.Author && !v.Admin {
		return db.Competition{}, ErrForbidden
	}
	c, err := s.st.GetCompetitionBySlug(ctx, slug)
	if store.IsNotFound(err) {
		return c, ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("get competition %q: %w", slug, err)
	}
	if !v.Admin && !v.owns(c) {
		return c, ErrNotFound
	}
	return c, nil
}

// builtinScorer returns the built-in module named metric, or nil when there
// is none.
func (s *Service) builtinScorer(metric string) []byte {
	if s.builtins == "" || !slugRE.MatchString(metric) {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(s.builtins, metric+".wasm"))
	if err != nil {
		return nil
	}
	return b
}

// CreateDraft creates an invisible draft competition owned by v, with its
// dataset. A metric that names a built-in module makes that module the
// scorer at once. Only authors and admins may (ErrForbidden), INTERNAL
// needs an admin (ErrForbidden), and a taken slug is ErrConflict.
func (s *Service) CreateDraft(ctx context.Context, v Viewer, d Draft) (AuthorCompetition, error) {
	if v.UserID == 0 || !v.Author && !v.Admin {
		return AuthorCompetition{}, ErrForbidden
	}
	sp, err := d.Validate(s.maxAuthorCap)
	if err != nil {
		return AuthorCompetition{}, err
	}
	if d.Exposure == "INTERNAL" && !v.Admin {
		return AuthorCompetition{}, fmt.Errorf("%w: only admins create INTERNAL competitions", ErrForbidden)
	}
	var builtin []byte
	var bDigest, bRel string
	if builtin = s.builtinScorer(d.Metric); builtin != nil {
		if bDigest, bRel, err = putBlob(s.roots.Scorers, builtin, s.roots.Owner); err != nil {
			return AuthorCompetition{}, fmt.Errorf("store built-in scorer: %w", err)
		}
	}
	specJSON, _ := json.Marshal(sp)
	var id int64
	err = s.st.InTx(ctx, func(tx store.Store) error {
		if _, err := tx.GetCompetitionBySlug(ctx, d.Slug); err == nil {
			return ErrConflict
		}
		if _, err := tx.GetDatasetBySlug(ctx, d.Slug); err == nil {
			return ErrConflict
		}
		dsID, err := tx.CreateDataset(ctx, db.CreateDatasetParams{Slug: d.Slug, Title: d.Title, Description: d.Description,
			Exposure: db.DatasetsExposure(d.Exposure)})
		if store.IsDuplicate(err) {
			return ErrConflict
		} else if err != nil {
			return fmt.Errorf("create dataset: %w", err)
		}
		if err := tx.SetDatasetPublished(ctx, db.SetDatasetPublishedParams{ID: dsID, Published: false}); err != nil {
			return fmt.Errorf("mark dataset draft: %w", err)
		}
		id, err = tx.CreateCompetition(ctx, db.CreateCompetitionParams{Slug: d.Slug, Title: d.Title, Description: d.Description,
			Exposure: db.CompetitionsExposure(d.Exposure), OwnerUserID: sqlNullInt(v.UserID), Metric: d.Metric,
			HigherIsBetter: sp.HigherIsBetter, DailyCap: int32(d.DailyCap), SpecJson: string(specJSON), DatasetID: dsID})
		if store.IsDuplicate(err) {
			return ErrConflict
		} else if err != nil {
			return fmt.Errorf("create competition: %w", err)
		}
		if err := tx.SetCompetitionPublished(ctx, db.SetCompetitionPublishedParams{ID: id, Published: false}); err != nil {
			return fmt.Errorf("mark competition draft: %w", err)
		}
		created, err := tx.GetCompetition(ctx, id)
		if err != nil {
			return err
		}
		if err := applyScoring(ctx, tx, created, d.scoring()); err != nil {
			return err
		}
		if builtin != nil {
			smID, err := s.recordScorer(ctx, tx, v.UserID, bDigest, bRel, d.Metric, "builtin", builtin)
			if err != nil {
				return err
			}
			if err := tx.SetCompetitionScorer(ctx, db.SetCompetitionScorerParams{ID: id, ScorerID: sqlNullInt(smID)}); err != nil {
				return fmt.Errorf("set scorer: %w", err)
			}
		}
		return s.audit(ctx, tx, v.UserID, "author.create", "competition", d.Slug, "metric="+d.Metric)
	})
	if err != nil {
		return AuthorCompetition{}, err
	}
	c, err := s.st.GetCompetition(ctx, id)
	if err != nil {
		return AuthorCompetition{}, err
	}
	return s.authorView(ctx, c)
}

// recordScorer finds or inserts the scorer_modules row of a stored module.
func (s *Service) recordScorer(ctx context.Context, tx store.Store, actor int64, digest, rel, name, version string, wasm []byte) (int64, error) {
	sm, err := tx.GetScorerModuleByDigest(ctx, digest)
	if err == nil {
		return sm.ID, nil
	}
	if !store.IsNotFound(err) {
		return 0, fmt.Errorf("get scorer: %w", err)
	}
	report, _ := json.Marshal(map[string]string{"note": "see the competition's certification report"})
	p := db.InsertScorerModuleParams{Digest: digest, Name: text.Truncate(name, 64), Version: text.Truncate(version, 64),
		AbiVersion: "1", SizeBytes: int64(len(wasm)), Path: rel, ValidationReport: string(report)}
	if actor > 0 {
		p.UploadedBy = sqlNullInt(actor)
	}
	id, err := tx.InsertScorerModule(ctx, p)
	if err != nil {
		return 0, fmt.Errorf("record scorer: %w", err)
	}
	return id, nil
}

// draftOf is c as a Draft (the fields an author may change), with its
// submission spec sp.
func draftOf(c db.Competition, sp spec.Spec) Draft {
	d := Draft{Slug: c.Slug, Title: c.Title, Description: c.Description, Exposure: string(c.Exposure), Metric: c.Metric,
		Direction: direction(c.HigherIsBetter), DailyCap: int(c.DailyCap), IDColumn: sp.ID, Columns: sp.Columns, Layout: string(sp.Layout),
		ScoringMode: string(c.ScoringMode), DisplayDigits: int(c.DisplayDigits), FinalLimit: int(c.FinalLimit)}
	if c.ScoringMode == db.CompetitionsScoringModePublicPrivate {
		f := c.PublicFraction
		d.PublicFraction = &f
	}
	if c.SelectionDeadline.Valid {
		t := c.SelectionDeadline.Time
		d.SelectionDeadline = &t
	}
	return d
}

// applyTo sets the fields p names on d; a public fraction is dropped unless
// the scoring mode is public_private.
func (p DraftPatch) applyTo(d *Draft) {
	if p.ScoringMode != nil {
		d.ScoringMode = *p.ScoringMode
	}
	if p.PublicFraction != nil {
		d.PublicFraction = p.PublicFraction
	}
	if d.ScoringMode != ModePublicPrivate {
		d.PublicFraction = nil
	}
	if p.DisplayDigits != nil {
		d.DisplayDigits = *p.DisplayDigits
	}
	if p.FinalLimit != nil {
		d.FinalLimit = *p.FinalLimit
	}
	if p.SelectionDeadline != nil {
		d.SelectionDeadline = p.SelectionDeadline
	}
	setStr := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	setStr(&d.Title, p.Title)
	setStr(&d.Description, p.Description)
	setStr(&d.Metric, p.Metric)
	setStr(&d.Direction, p.Direction)
	setStr(&d.IDColumn, p.IDColumn)
	setStr(&d.Layout, p.Layout)
	if p.DailyCap != nil {
		d.DailyCap = *p.DailyCap
	}
	if p.Columns != nil {
		d.Columns = *p.Columns
	}
}

// UpdateDraft applies p to a competition v authors. Title, description,
// direction, daily cap and metric label may change at any time (a new
// direction re-ranks the board); the submission spec only while it is a
// draft, and a new spec drops the holdout built for the old one.
func (s *Service) UpdateDraft(ctx context.Context, v Viewer, slug string, p DraftPatch) (AuthorCompetition, error) {
	c, err := s.authored(ctx, v, slug)
	if err != nil {
		return AuthorCompetition{}, err
	}
	sp, err := specOf(c)
	if err != nil {
		return AuthorCompetition{}, err
	}
	specChanged := p.IDColumn != nil || p.Columns != nil || p.Layout != nil
	if specChanged && c.Published {
		return AuthorCompetition{}, &ValidationError{Fields: []FieldError{{"columns", "the submission spec cannot change once the competition is published"}}}
	}
	d := draftOf(c, sp)
	p.applyTo(&d)
	maxCap := s.maxAuthorCap
	if int(c.DailyCap) > maxCap {
		maxCap = int(c.DailyCap) // an admin-made cap above the bound may stay
	}
	nsp, err := d.Validate(maxCap)
	if err != nil {
		return AuthorCompetition{}, err
	}
	specChanged = specChanged && !sameSpec(sp, nsp)
	specJSON, _ := json.Marshal(nsp)
	err = s.st.InTx(ctx, func(tx store.Store) error {
		cur, err := tx.LockCompetition(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("lock competition: %w", err)
		}
		if err := tx.UpdateCompetitionAuthored(ctx, db.UpdateCompetitionAuthoredParams{ID: c.ID, Title: d.Title,
			Description: d.Description, Metric: d.Metric, HigherIsBetter: nsp.HigherIsBetter, DailyCap: int32(d.DailyCap),
			SpecJson: string(specJSON)}); err != nil {
			return fmt.Errorf("update competition: %w", err)
		}
		if err := applyScoring(ctx, tx, cur, d.scoring()); err != nil {
			return err
		}
		if cur.CurrentHoldoutID.Valid && !specChanged {
			if err := checkSplitVersion(ctx, tx, s, cur); err != nil {
				return err
			}
		}
		if err := tx.UpdateDataset(ctx, db.UpdateDatasetParams{ID: c.DatasetID, Title: d.Title, Description: d.Description,
			Exposure: db.DatasetsExposure(c.Exposure)}); err != nil {
			return fmt.Errorf("update dataset: %w", err)
		}
		if specChanged && cur.CurrentHoldoutID.Valid {
			if err := tx.SetCompetitionHoldout(ctx, db.SetCompetitionHoldoutParams{ID: c.ID}); err != nil {
				return fmt.Errorf("drop holdout: %w", err)
			}
		}
		if cur.HigherIsBetter != nsp.HigherIsBetter {
			cur.HigherIsBetter = nsp.HigherIsBetter
			if err := rerankAll(ctx, tx, cur); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, v.UserID, "author.update", "competition", slug, fmt.Sprintf("spec_changed=%t", specChanged))
	})
	if err != nil {
		return AuthorCompetition{}, err
	}
	if c, err = s.st.GetCompetition(ctx, c.ID); err != nil {
		return AuthorCompetition{}, err
	}
	return s.authorView(ctx, c)
}

func sameSpec(a, b spec.Spec) bool {
	ja, _ := json.Marshal(spec.Spec{ID: a.ID, Columns: a.Columns, Layout: a.Layout})
	jb, _ := json.Marshal(spec.Spec{ID: b.ID, Columns: b.Columns, Layout: b.Layout})
	return bytes.Equal(ja, jb)
}

func direction(higher bool) string {
	if higher {
		return "maximize"
	}
	return "minimize"
}

// MaxPublicFileBytes bounds one public file an author uploads.
const MaxPublicFileBytes = 256 << 20

// UploadFile stores a public file (training, public eval or the sample
// submission) of a competition v authors, replacing a file of the same
// name. A sample submission must be a valid submission against the current
// holdout, when there is one. The file is written under its public root
// only; holdouts are never public files.
func (s *Service) UploadFile(ctx context.Context, v Viewer, slug, kind, name string, data []byte) (DatasetFile, error) {
	c, err := s.authored(ctx, v, slug)
	if err != nil {
		return DatasetFile{}, err
	}
	var fe []FieldError
	if !ValidFileName(name) {
		fe = append(fe, FieldError{"name", "must be 1-128 letters, digits, '.', '_' or '-', not starting with '.', '_' or '-'"})
	}
	if kind != KindTraining && kind != KindPublicEval && kind != KindSampleSubmission {
		fe = append(fe, FieldError{"kind", "must be training, public_eval or sample_submission"})
	}
	if len(data) > MaxPublicFileBytes {
		fe = append(fe, FieldError{"file", fmt.Sprintf("must be at most %d bytes", MaxPublicFileBytes)})
	}
	if len(fe) > 0 {
		return DatasetFile{}, &ValidationError{Fields: fe}
	}
	if kind == KindSampleSubmission && c.CurrentHoldoutID.Valid {
		h, err := s.holdoutOf(ctx, c)
		if err != nil {
			return DatasetFile{}, err
		}
		if _, err := s.eng.Validate(ctx, h, data); err != nil {
			return DatasetFile{}, err
		}
	}
	root := s.roots.PublicEval
	if kind == KindTraining {
		root = s.roots.TrainingData
	}
	rel := filepath.Join(c.Slug, name)
	p, err := resolve(root, rel)
	if err != nil {
		return DatasetFile{}, err
	}
	if err := ensureDir(filepath.Dir(p), publicDirMode, s.roots.Owner); err != nil {
		return DatasetFile{}, err
	}
	sum := sha256.Sum256(data)
	f := DatasetFile{Name: name, Kind: kind, SizeBytes: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
	err = s.st.InTx(ctx, func(tx store.Store) error {
		if _, err := tx.LockCompetition(ctx, c.ID); err != nil {
			return fmt.Errorf("lock competition: %w", err)
		}
		files, err := tx.ListDatasetFiles(ctx, c.DatasetID)
		if err != nil {
			return fmt.Errorf("list files: %w", err)
		}
		for _, old := range files {
			if old.Name == name && string(old.Kind) != kind {
				// The same name under the other public root: drop the row
				// (the old bytes stay until overwritten; they were public).
				if err := tx.DeleteDatasetFile(ctx, db.DeleteDatasetFileParams{DatasetID: c.DatasetID, Name: name}); err != nil {
					return err
				}
			}
			if kind == KindSampleSubmission && old.Kind == db.DatasetFilesKindSampleSubmission && old.Name != name {
				// One sample submission per competition.
				if err := tx.DeleteDatasetFile(ctx, db.DeleteDatasetFileParams{DatasetID: c.DatasetID, Name: old.Name}); err != nil {
					return err
				}
			}
		}
		// Written under the competition's row lock, so two uploads of one
		// name cannot leave the file and the row disagreeing.
		if err := writeFileAtomic(p, data, publicFileMode, s.roots.Owner); err != nil {
			return fmt.Errorf("store %s: %w", name, err)
		}
		if err := tx.UpsertDatasetFile(ctx, db.UpsertDatasetFileParams{DatasetID: c.DatasetID, Name: name,
			Kind: db.DatasetFilesKind(kind), SizeBytes: f.SizeBytes, Sha256: f.SHA256, Path: rel}); err != nil {
			return fmt.Errorf("record %s: %w", name, err)
		}
		return s.audit(ctx, tx, v.UserID, "author.file", "competition", slug, kind+" "+name+" "+f.SHA256[:12])
	})
	if err != nil {
		return DatasetFile{}, err
	}
	return f, nil
}

// MaxHoldoutBytes bounds an uploaded holdout file.
const MaxHoldoutBytes = 1 << 30

// UploadHoldout converts a holdout CSV (or Arrow IPC file) for the
// competition's spec into canonical Arrow under TEST_HOLDOUTS_DIR and makes
// it the current holdout version; the answer carries its digest and row
// count, never its content. On a published competition the new holdout is
// certified with the current scorer first (a failure is a
// *NotCertifiedError and changes nothing), then every submission is
// rescored and the rescore job records the ranks before, so
// RescoreMoves can say whose rank moved. A bad file is an *InvalidError
// naming rows and columns.
func (s *Service) UploadHoldout(ctx context.Context, v Viewer, slug string, data []byte) (HoldoutInfo, error) {
	c, err := s.authored(ctx, v, slug)
	if err != nil {
		return HoldoutInfo{}, err
	}
	if len(data) > MaxHoldoutBytes {
		return HoldoutInfo{}, &InvalidError{Problems: []Problem{{Message: fmt.Sprintf("the holdout is larger than %d bytes", MaxHoldoutBytes)}}}
	}
	sp, err := specOf(c)
	if err != nil {
		return HoldoutInfo{}, err
	}
	var hd *holdout.Holdout
	if holdout.IsArrow(data) {
		hd, err = holdout.ReadArrow(sp, data)
	} else {
		hd, err = holdout.ImportCSV(sp, data)
	}
	if err != nil {
		return HoldoutInfo{}, holdoutProblems(err)
	}
	hDigest, hRel, hPath, err := s.storeHoldout(c.Slug, hd)
	if err != nil {
		return HoldoutInfo{}, err
	}
	cand := Holdout{Digest: hDigest, Path: hPath, Rows: hd.Units(), Spec: sp}
	if c.Published {
		if _, err := s.certifyCandidate(ctx, c, &cand, nil); err != nil {
			return HoldoutInfo{}, err
		}
	}
	var out HoldoutInfo
	err = s.st.InTx(ctx, func(tx store.Store) error {
		out = HoldoutInfo{Digest: hDigest, Rows: hd.Units()}
		cur, err := tx.LockCompetition(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("lock competition: %w", err)
		}
		if curSp, err := specOf(cur); err != nil || !sameSpec(curSp, sp) {
			return &ValidationError{Fields: []FieldError{{"file", "the submission spec changed while the holdout was being read; upload it again"}}}
		}
		if err := checkSplit(ctx, tx, c.ID, hd); err != nil {
			return err
		}
		hv, err := holdoutVersion(ctx, tx, c.ID, hDigest, hRel, hd.Units())
		if err != nil {
			return err
		}
		out.Version, out.CreatedAt = int(hv.Version), hv.CreatedAt.UTC()
		if cur.CurrentHoldoutID.Valid && cur.CurrentHoldoutID.Int64 == hv.ID {
			return nil
		}
		if err := tx.SetCompetitionHoldout(ctx, db.SetCompetitionHoldoutParams{ID: c.ID, HoldoutID: sqlNullInt(hv.ID)}); err != nil {
			return fmt.Errorf("switch holdout: %w", err)
		}
		if err := s.audit(ctx, tx, v.UserID, "author.holdout", "competition", slug,
			fmt.Sprintf("version %d, %d rows, %s", hv.Version, hv.RowCount, hDigest[:12])); err != nil {
			return err
		}
		out.Rescore, err = s.rescoreIfPublished(ctx, tx, cur, v.UserID, fmt.Sprintf("new holdout version %d", hv.Version))
		return err
	})
	if err != nil {
		return HoldoutInfo{}, err
	}
	if out.Rescore != nil {
		s.wake.Notify()
	}
	return out, nil
}

// holdoutProblems turns a holdout import refusal into an *InvalidError
// whose problems name rows and columns (never values: the file is the
// author's own, but the message may be logged).
func holdoutProblems(err error) error {
	msg := err.Error()
	var out []Problem
	for _, line := range strings.Split(msg, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, Problem{Message: line})
		}
		if len(out) == 20 {
			break
		}
	}
	return &InvalidError{Problems: out}
}

// UploadAuthorScorer stores wasm as the competition's scorer module. On a
// draft it becomes current at once (the certification report judges it
// before publishing); on a published competition it is certified with the
// current holdout first, a failure being a *NotCertifiedError that changes
// nothing, and then every submission is rescored. Modules that are not
// WebAssembly, or larger than MaxScorerBytes, are a *ValidationError.
func (s *Service) UploadAuthorScorer(ctx context.Context, v Viewer, slug, name, version string, wasm []byte) (ScorerInfo, error) {
	c, err := s.authored(ctx, v, slug)
	if err != nil {
		return ScorerInfo{}, err
	}
	if len(wasm) == 0 || len(wasm) > MaxScorerBytes || !bytes.HasPrefix(wasm, []byte("\x00asm")) {
		return ScorerInfo{}, &ValidationError{Fields: []FieldError{{"file", fmt.Sprintf("must be a WebAssembly module (\\0asm) of 1 to %d bytes", MaxScorerBytes)}}}
	}
	sum := sha256.Sum256(wasm)
	m := ScorerModule{Digest: hex.EncodeToString(sum[:]), Wasm: wasm}
	if c.Published {
		if _, err := s.certifyCandidate(ctx, c, nil, &m); err != nil {
			return ScorerInfo{}, err
		}
	}
	digest, rel, err := putBlob(s.roots.Scorers, wasm, s.roots.Owner)
	if err != nil {
		return ScorerInfo{}, fmt.Errorf("store scorer: %w", err)
	}
	out := ScorerInfo{Digest: digest, Name: name, Version: version, SizeBytes: int64(len(wasm))}
	err = s.st.InTx(ctx, func(tx store.Store) error {
		out.Rescore = nil
		cur, err := tx.LockCompetition(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("lock competition: %w", err)
		}
		id, err := s.recordScorer(ctx, tx, v.UserID, digest, rel, name, version, wasm)
		if err != nil {
			return err
		}
		if cur.CurrentScorerID.Valid && cur.CurrentScorerID.Int64 == id {
			return nil
		}
		if err := tx.SetCompetitionScorer(ctx, db.SetCompetitionScorerParams{ID: c.ID, ScorerID: sqlNullInt(id)}); err != nil {
			return fmt.Errorf("switch scorer: %w", err)
		}
		if err := s.audit(ctx, tx, v.UserID, "author.scorer", "competition", slug, "scorer "+digest+" "+name+" "+version); err != nil {
			return err
		}
		out.Rescore, err = s.rescoreIfPublished(ctx, tx, cur, v.UserID, "new scorer "+digest[:12])
		return err
	})
	if err != nil {
		return ScorerInfo{}, err
	}
	if out.Rescore != nil {
		s.wake.Notify()
	}
	return out, nil
}

// Publish makes a draft visible and opens it for submissions, once its
// current scorer, holdout and sample submission have an ok certification
// report (computed now when there is none): otherwise a
// *NotCertifiedError. Publishing twice is a no-op.
func (s *Service) Publish(ctx context.Context, v Viewer, slug string) (AuthorCompetition, error) {
	c, err := s.authored(ctx, v, slug)
	if err != nil {
		return AuthorCompetition{}, err
	}
	if c.Published {
		return s.authorView(ctx, c)
	}
	rep, err := s.Report(ctx, v, slug)
	if err != nil {
		return AuthorCompetition{}, err
	}
	if !rep.OK {
		return AuthorCompetition{}, &NotCertifiedError{Report: rep}
	}
	err = s.st.InTx(ctx, func(tx store.Store) error {
		cur, err := tx.LockCompetition(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("lock competition: %w", err)
		}
		if !cur.CurrentScorerID.Valid || !cur.CurrentHoldoutID.Valid ||
			cur.CurrentScorerID != c.CurrentScorerID || cur.CurrentHoldoutID != c.CurrentHoldoutID {
			return &ValidationError{Fields: []FieldError{{"scorer", "the scorer or holdout changed while publishing; fetch the report again"}}}
		}
		if err := tx.SetCompetitionPublished(ctx, db.SetCompetitionPublishedParams{ID: c.ID, Published: true}); err != nil {
			return err
		}
		if err := tx.SetDatasetPublished(ctx, db.SetDatasetPublishedParams{ID: c.DatasetID, Published: true}); err != nil {
			return err
		}
		return s.audit(ctx, tx, v.UserID, "author.publish", "competition", slug, "report ok")
	})
	if err != nil {
		return AuthorCompetition{}, err
	}
	if c, err = s.st.GetCompetition(ctx, c.ID); err != nil {
		return AuthorCompetition{}, err
	}
	return s.authorView(ctx, c)
}

// MyCompetitions lists the competitions v owns, drafts included.
func (s *Service) MyCompetitions(ctx context.Context, v Viewer) ([]AuthorCompetition, error) {
	if v.UserID == 0 || !v.Author && !v.Admin {
		return nil, ErrForbidden
	}
	rows, err := s.st.ListCompetitionsByOwner(ctx, sqlNullInt(v.UserID))
	if err != nil {
		return nil, fmt.Errorf("list own competitions: %w", err)
	}
	out := make([]AuthorCompetition, 0, len(rows))
	for _, c := range rows {
		ac, err := s.authorView(ctx, c)
		if err != nil {
			return nil, err
		}
		out = append(out, ac)
	}
	return out, nil
}

// AuthorCompetition returns the owner's view of a competition v authors.
func (s *Service) AuthorCompetition(ctx context.Context, v Viewer, slug string) (AuthorCompetition, error) {
	c, err := s.authored(ctx, v, slug)
	if err != nil {
		return AuthorCompetition{}, err
	}
	return s.authorView(ctx, c)
}

func (s *Service) authorView(ctx context.Context, c db.Competition) (AuthorCompetition, error) {
	pub, err := s.view(ctx, c)
	if err != nil {
		return AuthorCompetition{}, err
	}
	sp, err := specOf(c)
	if err != nil {
		return AuthorCompetition{}, err
	}
	out := AuthorCompetition{Competition: pub, Published: c.Published, Direction: direction(c.HigherIsBetter),
		IDColumn: sp.ID, Columns: sp.Columns, Layout: string(sp.Layout), Files: []DatasetFile{}}
	if c.PublishedAt.Valid {
		t := c.PublishedAt.Time.UTC()
		out.PublishedAt = &t
	}
	files, err := s.st.ListDatasetFiles(ctx, c.DatasetID)
	if err != nil {
		return AuthorCompetition{}, fmt.Errorf("files of %s: %w", c.Slug, err)
	}
	for _, f := range files {
		out.Files = append(out.Files, DatasetFile{Name: f.Name, Kind: string(f.Kind), SizeBytes: f.SizeBytes, SHA256: f.Sha256})
	}
	if c.CurrentHoldoutID.Valid {
		if h, err := s.st.GetHoldoutVersion(ctx, c.CurrentHoldoutID.Int64); err == nil {
			out.Holdout = &HoldoutInfo{Version: int(h.Version), Digest: h.Digest, Rows: int(h.RowCount), CreatedAt: h.CreatedAt.UTC()}
		}
	}
	if c.CurrentScorerID.Valid {
		if m, err := s.st.GetScorerModule(ctx, c.CurrentScorerID.Int64); err == nil {
			out.Scorer = &ScorerInfo{Digest: m.Digest, Name: m.Name, Version: m.Version, SizeBytes: m.SizeBytes, Builtin: m.Version == "builtin"}
		}
	}
	if out.Holdout != nil && out.Scorer != nil {
		if sample, err := s.sampleSubmission(ctx, c); err == nil {
			sum := sha256.Sum256(sample)
			r, err := s.st.GetCertificationReport(ctx, db.GetCertificationReportParams{CompetitionID: c.ID,
				ScorerDigest: out.Scorer.Digest, HoldoutDigest: out.Holdout.Digest, SampleSha256: hex.EncodeToString(sum[:])})
			out.Certified = err == nil && r.Ok
		}
	}
	return out, nil
}

// OwnerSubmission is a submission as its competition's owner sees it: the
// participant's view plus who sent it and the scorer's internal error.
type OwnerSubmission struct {
	Submission
	UserID        int64  `json:"user_id"`
	DisplayName   string `json:"display_name"`
	InternalError string `json:"internal_error,omitempty"`
	Attempts      int    `json:"attempts"`
}

// OwnerSubmissions lists a competition's submissions, newest first, for
// its owner (or an admin): status, score, the participant's error and the
// scorer's internal error. before pages (0: from the newest).
func (s *Service) OwnerSubmissions(ctx context.Context, v Viewer, slug string, before int64, limit int) ([]OwnerSubmission, error) {
	c, err := s.authored(ctx, v, slug)
	if err != nil {
		return nil, err
	}
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.st.ListCompetitionSubmissions(ctx, db.ListCompetitionSubmissionsParams{CompetitionID: c.ID, BeforeID: before, Limit: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("submissions of %s: %w", slug, err)
	}
	out := make([]OwnerSubmission, 0, len(rows))
	for _, r := range rows {
		sub := db.Submission{ID: r.ID, CompetitionID: r.CompetitionID, UserID: r.UserID, Filename: r.Filename,
			ArtifactSha256: r.ArtifactSha256, ArtifactPath: r.ArtifactPath, SizeBytes: r.SizeBytes, RowCount: r.RowCount,
			Status: r.Status, PublicError: r.PublicError, InternalError: r.InternalError, Pending: r.Pending,
			PrimaryScore: r.PrimaryScore, CiLow: r.CiLow, CiHigh: r.CiHigh, CreatedAt: r.CreatedAt, ScoredAt: r.ScoredAt}
		name := r.UserDisplayName
		if name == "" {
			name = "user-" + strconv.FormatInt(r.UserID, 10)
		}
		out = append(out, OwnerSubmission{Submission: submissionView(slug, sub), UserID: r.UserID, DisplayName: name,
			InternalError: r.InternalError, Attempts: int(r.Attempts)})
	}
	return out, nil
}

// RankMove is one user whose leaderboard rank changed with a rescoring.
type RankMove struct {
	DisplayName string `json:"display_name"`
	Before      int    `json:"before"` // 0: not ranked before
	After       int    `json:"after"`  // 0: not ranked after
}

// AuthorRescore is a rescore job with, once it finished, whose rank moved.
type AuthorRescore struct {
	RescoreJob
	Moves []RankMove `json:"moves"` // null while running
}

// queueRescoreWithRanks is queueRescore that also records the current
// ranks on the job, for RescoreMoves.
func (s *Service) queueRescoreWithRanks(ctx context.Context, tx store.Store, c db.Competition, actor int64, reason string) (db.RescoreJob, error) {
	entries, err := tx.CompetitionLeaderboardEntries(ctx, c.ID)
	if err != nil {
		return db.RescoreJob{}, fmt.Errorf("leaderboard of %s: %w", c.Slug, err)
	}
	ranks := map[string]int{}
	for _, e := range Rank(entries, c.HigherIsBetter) {
		ranks[strconv.FormatInt(e.userID, 10)] = e.Rank
	}
	job, err := s.queueRescore(ctx, tx, c, actor, reason)
	if err != nil {
		return job, err
	}
	b, _ := json.Marshal(ranks)
	if err := tx.SetRescoreJobRanks(ctx, db.SetRescoreJobRanksParams{ID: job.ID, RanksBefore: sql.NullString{String: string(b), Valid: true}}); err != nil {
		return job, fmt.Errorf("record ranks: %w", err)
	}
	return job, nil
}

// rescoreIfPublished queues a rescoring with ranks of a published
// competition (a draft has no submissions) and returns its view.
func (s *Service) rescoreIfPublished(ctx context.Context, tx store.Store, c db.Competition, actor int64, reason string) (*RescoreJob, error) {
	if !c.Published {
		return nil, nil
	}
	job, err := s.queueRescoreWithRanks(ctx, tx, c, actor, reason)
	if err != nil {
		return nil, err
	}
	jv := jobView(c.Slug, job)
	return &jv, nil
}

// RescoreMoves returns a rescore job of a competition v authors and, once
// it finished, every user whose rank differs from the one recorded when
// it was queued.
func (s *Service) RescoreMoves(ctx context.Context, v Viewer, slug string, id int64) (AuthorRescore, error) {
	c, err := s.authored(ctx, v, slug)
	if err != nil {
		return AuthorRescore{}, err
	}
	j, err := s.st.GetRescoreJob(ctx, id)
	if store.IsNotFound(err) || err == nil && j.CompetitionID != c.ID {
		return AuthorRescore{}, ErrNotFound
	}
	if err != nil {
		return AuthorRescore{}, err
	}
	out := AuthorRescore{RescoreJob: jobView(slug, j)}
	if !j.FinishedAt.Valid || !j.RanksBefore.Valid {
		return out, nil
	}
	before := map[string]int{}
	if err := json.Unmarshal([]byte(j.RanksBefore.String), &before); err != nil {
		return out, fmt.Errorf("ranks of job %d: %w", id, err)
	}
	entries, err := s.st.CompetitionLeaderboardEntries(ctx, c.ID)
	if err != nil {
		return out, err
	}
	out.Moves = []RankMove{}
	for _, e := range Rank(entries, c.HigherIsBetter) {
		key := strconv.FormatInt(e.userID, 10)
		if b := before[key]; b != e.Rank {
			out.Moves = append(out.Moves, RankMove{DisplayName: e.DisplayName, Before: b, After: e.Rank})
		}
		delete(before, key)
	}
	for key, b := range before {
		out.Moves = append(out.Moves, RankMove{DisplayName: "user-" + key, Before: b})
	}
	return out, nil
}
