package competitions

import (
	"bytes"
	"context"
	"crypto/sha256"
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

// File kinds of a dataset's public files.
const (
	KindTraining         = "training"
	KindPublicEval       = "public_eval"
	KindSampleSubmission = "sample_submission"
)

// PublicFile is one public file of a bundle.
type PublicFile struct {
	Name string // a safe base name (see ValidFileName)
	Kind string // KindTraining, KindPublicEval or KindSampleSubmission
	Data []byte
}

// Bundle is a loaded competition bundle, ready to install.
type Bundle struct {
	Spec        spec.Spec
	Title       string
	Description string
	Exposure    string // EXTERNAL or INTERNAL
	DailyCap    int
	// Holdout is the parsed hidden truth.
	Holdout *holdout.Holdout
	// ScorerName and ScorerVersion label the module; Scorer is its bytes.
	ScorerName    string
	ScorerVersion string
	Scorer        []byte
	Files         []PublicFile
	// Owner is the owning user id (0: none).
	Owner int64
	// Scoring is the scoring mode, split and board settings (zero: the
	// defaults, single_realtime_hidden).
	Scoring ScoringSettings
}

// InstallResult says what Install changed.
type InstallResult struct {
	Competition    Competition `json:"competition"`
	Created        bool        `json:"created"`
	HoldoutChanged bool        `json:"holdout_changed"`
	ScorerChanged  bool        `json:"scorer_changed"`
	// Rescore is set when an existing competition got a new holdout or
	// scorer and every submission was queued for rescoring.
	Rescore *RescoreJob      `json:"rescore,omitempty"`
	Report  ValidationReport `json:"validation_report"`
}

var fileNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ValidFileName reports whether name is a safe public file name: 1-128
// letters, digits, '.', '_' or '-', not starting with '.', '_' or '-'.
func ValidFileName(name string) bool {
	return fileNameRE.MatchString(name) && !strings.Contains(name, "..")
}

func (b *Bundle) check() error {
	var errs []error
	if err := b.Spec.Validate(); err != nil {
		errs = append(errs, err)
	}
	if strings.TrimSpace(b.Title) == "" {
		errs = append(errs, errors.New("title is empty"))
	}
	if b.Exposure != "EXTERNAL" && b.Exposure != "INTERNAL" {
		errs = append(errs, fmt.Errorf("exposure %q must be EXTERNAL or INTERNAL", b.Exposure))
	}
	if b.DailyCap < 1 || b.DailyCap > 10000 {
		errs = append(errs, fmt.Errorf("daily_cap %d must be 1-10000", b.DailyCap))
	}
	if b.Holdout == nil {
		errs = append(errs, errors.New("no holdout"))
	} else if b.Holdout.Spec().Slug != b.Spec.Slug {
		errs = append(errs, errors.New("holdout was built for another spec"))
	}
	if len(b.Scorer) == 0 {
		errs = append(errs, errors.New("no scorer module"))
	}
	samples := 0
	seen := map[string]bool{}
	for _, f := range b.Files {
		if !ValidFileName(f.Name) {
			errs = append(errs, fmt.Errorf("file name %q is not a safe name", f.Name))
		}
		if seen[f.Name] {
			errs = append(errs, fmt.Errorf("file %q appears twice", f.Name))
		}
		seen[f.Name] = true
		switch f.Kind {
		case KindSampleSubmission:
			samples++
		case KindTraining, KindPublicEval:
		default:
			errs = append(errs, fmt.Errorf("file %q: unknown kind %q", f.Name, f.Kind))
		}
	}
	if samples != 1 {
		errs = append(errs, fmt.Errorf("need exactly one sample submission file, got %d", samples))
	}
	return errors.Join(errs...)
}

func (b *Bundle) sample() []byte {
	for _, f := range b.Files {
		if f.Kind == KindSampleSubmission {
			return f.Data
		}
	}
	return nil
}

// Install creates or updates the competition described by b, with its
// dataset (slug = competition slug) and public files. It is idempotent:
// installing the same bundle again changes nothing. A changed holdout (by
// content digest) becomes a new holdout version and a changed scorer a new
// scorer module; either queues every submission for rescoring, with an
// audit event. The scorer is validated on the sample submission against the
// new holdout first; a scorer that fails leaves everything unchanged.
// Holdout bytes are written only under Roots.Holdouts.
func (s *Service) Install(ctx context.Context, actor int64, b *Bundle) (InstallResult, error) {
	if err := b.check(); err != nil {
		return InstallResult{}, fmt.Errorf("bundle %s: %w", b.Spec.Slug, err)
	}
	slug := b.Spec.Slug
	hDigest, hRel, hPath, err := s.storeHoldout(slug, b.Holdout)
	if err != nil {
		return InstallResult{}, fmt.Errorf("bundle %s: %w", slug, err)
	}
	h := Holdout{Digest: hDigest, Path: hPath, Rows: b.Holdout.Units(), Spec: b.Spec}
	report, err := s.validateLocal(ctx, h, b.Scorer, b.sample())
	if err != nil {
		return InstallResult{Report: report}, err
	}
	sDigest, sRel, err := putBlob(s.roots.Scorers, b.Scorer, s.roots.Owner)
	if err != nil {
		return InstallResult{}, fmt.Errorf("bundle %s: store scorer: %w", slug, err)
	}
	files, err := s.storePublicFiles(slug, b.Files)
	if err != nil {
		return InstallResult{}, err
	}
	var res InstallResult
	var compID int64
	in := installed{files: files, hDigest: hDigest, hRel: hRel, sDigest: sDigest, sRel: sRel, report: report}
	err = s.st.InTx(ctx, func(tx store.Store) error {
		var err error
		res, compID, err = s.installRows(ctx, tx, actor, b, in)
		return err
	})
	if err != nil {
		return InstallResult{Report: report}, err
	}
	c, err := s.st.GetCompetition(ctx, compID)
	if err != nil {
		return res, err
	}
	if res.Competition, err = s.view(ctx, c); err != nil {
		return res, err
	}
	if res.Rescore != nil {
		s.wake.Notify()
	}
	return res, nil
}

// installed is what Install stored on disk before its transaction: the
// public files, the holdout and the scorer blob, and the scorer's report.
type installed struct {
	files         []storedFile
	hDigest, hRel string
	sDigest, sRel string
	report        ValidationReport
}

// installRows is Install's transaction: the dataset and its files, the
// competition and its settings, the holdout version and the scorer module,
// the audit event, and the rescoring the change needs.
func (s *Service) installRows(ctx context.Context, tx store.Store, actor int64, b *Bundle, in installed) (InstallResult, int64, error) {
	slug, report := b.Spec.Slug, in.report
	specJSON, _ := json.Marshal(b.Spec)
	reportJSON, _ := json.Marshal(report)
	res := InstallResult{Report: report}
	dsID, err := installDataset(ctx, tx, b, in.files)
	if err != nil {
		return res, 0, err
	}
	var c db.Competition
	if c, res.Created, err = installCompetition(ctx, tx, b, dsID, specJSON); err != nil {
		return res, 0, err
	}
	directionChanged := !res.Created && c.HigherIsBetter != b.Spec.HigherIsBetter
	if err := applyScoring(ctx, tx, c, b.Scoring); err != nil {
		return res, 0, fmt.Errorf("bundle %s: %w", slug, err)
	}
	if err := checkSplit(ctx, tx, c.ID, b.Holdout); err != nil {
		return res, 0, fmt.Errorf("bundle %s: %w", slug, err)
	}
	if res.HoldoutChanged, err = installHoldout(ctx, tx, c, in.hDigest, in.hRel, b.Holdout.Units()); err != nil {
		return res, 0, err
	}
	sm := db.InsertScorerModuleParams{Digest: in.sDigest, Name: text.Truncate(b.ScorerName, 64), Version: text.Truncate(b.ScorerVersion, 64),
		AbiVersion: report.ABIVersion, SizeBytes: int64(len(b.Scorer)), Path: in.sRel, ValidationReport: string(reportJSON)}
	if actor > 0 {
		sm.UploadedBy = sqlNullInt(actor)
	}
	if res.ScorerChanged, err = installScorer(ctx, tx, c, sm); err != nil {
		return res, 0, err
	}
	detail := fmt.Sprintf("created=%t holdout=%s scorer=%s", res.Created, in.hDigest[:12], in.sDigest[:12])
	if err := s.audit(ctx, tx, actor, "competition.import", "competition", slug, detail); err != nil {
		return res, 0, fmt.Errorf("audit import: %w", err)
	}
	if directionChanged {
		c.HigherIsBetter = b.Spec.HigherIsBetter
		if err := rerankAll(ctx, tx, c); err != nil {
			return res, 0, err
		}
	}
	if !res.Created && (res.HoldoutChanged || res.ScorerChanged || directionChanged) {
		// A new direction reuses every score row (same digests) but
		// recomputes each user's best.
		reason := "import: new holdout, scorer or direction"
		job, err := s.queueRescore(ctx, tx, c, actor, reason)
		if err != nil {
			return res, 0, err
		}
		jv := jobView(slug, job)
		res.Rescore = &jv
	}
	return res, c.ID, nil
}

// storedFile is a bundle's public file once written under its data root.
type storedFile struct {
	f        PublicFile
	rel, sha string
}

// storePublicFiles writes a bundle's public files under the training or
// public-eval root, in the competition's folder.
func (s *Service) storePublicFiles(slug string, in []PublicFile) ([]storedFile, error) {
	var files []storedFile
	for _, f := range in {
		root, dir := s.roots.PublicEval, slug
		if f.Kind == KindTraining {
			root = s.roots.TrainingData
		}
		rel := filepath.Join(dir, f.Name)
		p, err := resolve(root, rel)
		if err != nil {
			return nil, err
		}
		if err := ensureDir(filepath.Dir(p), publicDirMode, s.roots.Owner); err != nil {
			return nil, fmt.Errorf("bundle %s: %w", slug, err)
		}
		if err := writeFileAtomic(p, f.Data, publicFileMode, s.roots.Owner); err != nil {
			return nil, fmt.Errorf("bundle %s: store %s: %w", slug, f.Name, err)
		}
		sum := sha256.Sum256(f.Data)
		files = append(files, storedFile{f: f, rel: rel, sha: hex.EncodeToString(sum[:])})
	}
	return files, nil
}

// installDataset creates or updates the bundle's dataset (slug = the
// competition's) and makes its file rows exactly files.
func installDataset(ctx context.Context, tx store.Store, b *Bundle, files []storedFile) (int64, error) {
	slug := b.Spec.Slug
	ds, err := tx.GetDatasetBySlug(ctx, slug)
	exp := db.DatasetsExposure(b.Exposure)
	if store.IsNotFound(err) {
		id, err := tx.CreateDataset(ctx, db.CreateDatasetParams{Slug: slug, Title: b.Title, Description: b.Description, Exposure: exp})
		if err != nil {
			return 0, fmt.Errorf("create dataset: %w", err)
		}
		ds.ID = id
	} else if err != nil {
		return 0, fmt.Errorf("get dataset: %w", err)
	} else if err := tx.UpdateDataset(ctx, db.UpdateDatasetParams{ID: ds.ID, Title: b.Title, Description: b.Description, Exposure: exp}); err != nil {
		return 0, fmt.Errorf("update dataset: %w", err)
	}
	keep := map[string]bool{}
	for _, f := range files {
		keep[f.f.Name] = true
		if err := tx.UpsertDatasetFile(ctx, db.UpsertDatasetFileParams{
			DatasetID: ds.ID, Name: f.f.Name, Kind: db.DatasetFilesKind(f.f.Kind), SizeBytes: int64(len(f.f.Data)),
			Sha256: f.sha, Path: f.rel,
		}); err != nil {
			return 0, fmt.Errorf("record file %s: %w", f.f.Name, err)
		}
	}
	old, err := tx.ListDatasetFiles(ctx, ds.ID)
	if err != nil {
		return 0, fmt.Errorf("list files: %w", err)
	}
	for _, f := range old {
		if !keep[f.Name] {
			if err := tx.DeleteDatasetFile(ctx, db.DeleteDatasetFileParams{DatasetID: ds.ID, Name: f.Name}); err != nil {
				return 0, fmt.Errorf("drop file %s: %w", f.Name, err)
			}
		}
	}
	return ds.ID, nil
}

// installCompetition locks the bundle's competition, creating it (created
// true) when its slug is new, and sets its fields from b. c is the row as it
// was before the update, so the caller can see what changed.
func installCompetition(ctx context.Context, tx store.Store, b *Bundle, datasetID int64, specJSON []byte) (c db.Competition, created bool, err error) {
	c, err = tx.GetCompetitionBySlug(ctx, b.Spec.Slug)
	if store.IsNotFound(err) {
		p := db.CreateCompetitionParams{Slug: b.Spec.Slug, Title: b.Title, Description: b.Description, Exposure: db.CompetitionsExposure(b.Exposure),
			Metric: b.Spec.Metric, HigherIsBetter: b.Spec.HigherIsBetter, DailyCap: int32(b.DailyCap),
			SpecJson: string(specJSON), DatasetID: datasetID}
		if b.Owner > 0 {
			p.OwnerUserID = sqlNullInt(b.Owner)
		}
		id, err := tx.CreateCompetition(ctx, p)
		if err != nil {
			return c, false, fmt.Errorf("create competition: %w", err)
		}
		created = true
		if c, err = tx.GetCompetition(ctx, id); err != nil {
			return c, false, err
		}
	} else if err != nil {
		return c, false, fmt.Errorf("get competition: %w", err)
	}
	if c, err = tx.LockCompetition(ctx, c.ID); err != nil {
		return c, false, fmt.Errorf("lock competition: %w", err)
	}
	if err := tx.UpdateCompetition(ctx, db.UpdateCompetitionParams{ID: c.ID, Title: b.Title, Description: b.Description,
		Exposure: db.CompetitionsExposure(b.Exposure), Metric: b.Spec.Metric, HigherIsBetter: b.Spec.HigherIsBetter, DailyCap: int32(b.DailyCap),
		SpecJson: string(specJSON)}); err != nil {
		return c, false, fmt.Errorf("update competition: %w", err)
	}
	return c, created, nil
}

// storeHoldout writes hd as canonical Arrow under Roots.Holdouts, named by
// its content digest in the competition's folder (once: the same content
// is never written twice), and returns the digest (hex), the path relative
// to the root and the full path.
func (s *Service) storeHoldout(slug string, hd *holdout.Holdout) (digest, rel, path string, err error) {
	var arrow bytes.Buffer
	if err := hd.WriteArrow(&arrow); err != nil {
		return "", "", "", fmt.Errorf("encode holdout: %w", err)
	}
	digest = strings.TrimPrefix(hd.Digest(), "sha256:")
	rel = filepath.Join(slug, digest+".arrow")
	if path, err = resolve(s.roots.Holdouts, rel); err != nil {
		return "", "", "", err
	}
	if err := ensureDir(filepath.Dir(path), privateDirMode, s.roots.Owner); err != nil {
		return "", "", "", err
	}
	if _, err := os.Stat(path); err != nil {
		if err := writeFileAtomic(path, arrow.Bytes(), privateFileMode, s.roots.Owner); err != nil {
			return "", "", "", fmt.Errorf("store holdout: %w", err)
		}
	}
	return digest, rel, path, nil
}

// holdoutVersion returns competition compID's holdout version with digest,
// recording it as the next version when the digest is new.
func holdoutVersion(ctx context.Context, tx store.Store, compID int64, digest, rel string, units int) (db.HoldoutVersion, error) {
	hv, err := tx.GetHoldoutByDigest(ctx, db.GetHoldoutByDigestParams{CompetitionID: compID, Digest: digest})
	if !store.IsNotFound(err) {
		if err != nil {
			return hv, fmt.Errorf("get holdout: %w", err)
		}
		return hv, nil
	}
	next, err := tx.NextHoldoutVersion(ctx, compID)
	if err != nil {
		return hv, fmt.Errorf("holdout version: %w", err)
	}
	id, err := tx.InsertHoldoutVersion(ctx, db.InsertHoldoutVersionParams{CompetitionID: compID, Version: int32(next),
		Digest: digest, Path: rel, RowCount: int32(units)})
	if err != nil {
		return hv, fmt.Errorf("record holdout: %w", err)
	}
	return tx.GetHoldoutVersion(ctx, id)
}

// installHoldout records the holdout with digest as a version of c (a new
// version when the digest is new) and makes it current; changed says
// whether it was not current before.
func installHoldout(ctx context.Context, tx store.Store, c db.Competition, digest, rel string, units int) (changed bool, err error) {
	hv, err := holdoutVersion(ctx, tx, c.ID, digest, rel, units)
	if err != nil {
		return false, err
	}
	if c.CurrentHoldoutID.Int64 == hv.ID {
		return false, nil
	}
	if err := tx.SetCompetitionHoldout(ctx, db.SetCompetitionHoldoutParams{ID: c.ID, HoldoutID: sqlNullInt(hv.ID)}); err != nil {
		return false, fmt.Errorf("switch holdout: %w", err)
	}
	return true, nil
}

// installScorer records the scorer module m (once per digest) and makes it
// c's; changed says whether it was not c's before.
func installScorer(ctx context.Context, tx store.Store, c db.Competition, m db.InsertScorerModuleParams) (changed bool, err error) {
	sm, err := tx.GetScorerModuleByDigest(ctx, m.Digest)
	if store.IsNotFound(err) {
		id, err := tx.InsertScorerModule(ctx, m)
		if err != nil {
			return false, fmt.Errorf("record scorer: %w", err)
		}
		sm.ID = id
	} else if err != nil {
		return false, fmt.Errorf("get scorer: %w", err)
	}
	if c.CurrentScorerID.Int64 == sm.ID {
		return false, nil
	}
	if err := tx.SetCompetitionScorer(ctx, db.SetCompetitionScorerParams{ID: c.ID, ScorerID: sqlNullInt(sm.ID)}); err != nil {
		return false, fmt.Errorf("switch scorer: %w", err)
	}
	return true, nil
}

// ValidationReport is the record of the checks run on a scorer module
// before it may score: ABI and imports (load), compilation and start, and a
// run on the sample submission. It is kept with the module.
type ValidationReport struct {
	Digest      string    `json:"digest"`
	SizeBytes   int       `json:"size_bytes"`
	ABIVersion  string    `json:"abi_version"`
	Checks      []Check   `json:"checks"`
	SampleScore *float64  `json:"sample_score,omitempty"`
	OK          bool      `json:"ok"`
	CheckedAt   time.Time `json:"checked_at"`
}

// Check is one step of a ValidationReport.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// ScorerRejectedError is a scorer module that failed validation; Report
// says which check failed.
type ScorerRejectedError struct{ Report ValidationReport }

func (e *ScorerRejectedError) Error() string {
	for _, c := range e.Report.Checks {
		if !c.OK {
			return "scorer rejected: " + c.Name + ": " + c.Detail
		}
	}
	return "scorer rejected"
}

// MaxScorerBytes bounds a scorer module.
const MaxScorerBytes = 32 << 20

// wellFormed says wasm passes validateLocal's size and format checks,
// which run no module.
func wellFormed(wasm []byte) bool {
	return len(wasm) > 0 && len(wasm) <= MaxScorerBytes && bytes.HasPrefix(wasm, []byte("\x00asm"))
}

// validateLocal runs the checks of a ValidationReport in this process's
// sandbox. A failed check is a *ScorerRejectedError carrying the report;
// other errors are internal. A service with Deps.SandboxJobs calls it only
// from its worker (remoteValidate queues the run instead).
func (s *Service) validateLocal(ctx context.Context, h Holdout, wasm, sample []byte) (ValidationReport, error) {
	sum := sha256.Sum256(wasm)
	r := ValidationReport{Digest: hex.EncodeToString(sum[:]), SizeBytes: len(wasm), CheckedAt: s.now().UTC()}
	reject := func(name, detail string) (ValidationReport, error) {
		r.Checks = append(r.Checks, Check{Name: name, OK: false, Detail: detail})
		return r, &ScorerRejectedError{Report: r}
	}
	if len(wasm) == 0 || len(wasm) > MaxScorerBytes {
		return reject("size", fmt.Sprintf("module must be 1 to %d bytes, got %d", MaxScorerBytes, len(wasm)))
	}
	if !bytes.HasPrefix(wasm, []byte("\x00asm")) {
		return reject("format", "not a WebAssembly binary (missing \\0asm magic)")
	}
	r.Checks = append(r.Checks, Check{Name: "size", OK: true}, Check{Name: "format", OK: true})
	m := ScorerModule{Digest: r.Digest, Wasm: wasm}
	abiV, err := s.eng.Check(ctx, m)
	if err != nil {
		var se *ScorerError
		if errors.As(err, &se) {
			return reject("load", se.Message)
		}
		return r, fmt.Errorf("check scorer: %w", err)
	}
	r.ABIVersion = abiV
	r.Checks = append(r.Checks, Check{Name: "load", OK: true, Detail: "ABI " + abiV + ", imports allowed, compiled and started"})
	if len(sample) == 0 {
		return reject("sample", "no sample submission to run")
	}
	res, err := s.eng.Score(ctx, h, m, sample)
	if err != nil {
		var se *ScorerError
		var ie *InvalidError
		switch {
		case errors.As(err, &se):
			detail := se.Message
			if se.Detail != "" && se.Detail != se.Message {
				detail += ": " + se.Detail
			}
			return reject("sample", detail)
		case errors.As(err, &ie):
			return reject("sample", "the sample submission does not fit the holdout: "+summarize(ie.Problems))
		}
		return r, fmt.Errorf("run scorer on sample: %w", err)
	}
	p := res.PrimaryScore
	r.SampleScore = &p
	r.Checks = append(r.Checks, Check{Name: "sample", OK: true, Detail: "scored " + strconv.FormatFloat(p, 'g', 6, 64)})
	r.OK = true
	return r, nil
}
