package competitions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/medforge/medforge/engine"
	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/engine/holdout"
	"github.com/medforge/medforge/engine/wasminfo"
	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/db"
)

// The checks of a CertificationReport, in the order they run.
const (
	CheckReady       = "ready"
	CheckLoad        = "load"
	CheckSample      = "sample"
	CheckPerfect     = "perfect"
	CheckPermuted    = "permuted"
	CheckDeterminism = "determinism"
	CheckAdversarial = "adversarial"
	CheckResources   = "resources"
)

// CertificationReport says whether a scorer module behaves on a
// competition's holdout: it loads in the sandbox (imports and limits
// listed); the sample submission scores; a perfect submission derived
// from the holdout gets the best score seen and a permuted one a worse
// score; three runs in differently seeded sandboxes are bit-identical;
// AdversarialCases malformed or hostile submissions are each refused or
// scored without a crash, a timeout or running out of memory; and time and
// memory per scoring at the holdout's size stay well inside the limits.
// It holds scores and verdicts only, never a holdout value.
type CertificationReport struct {
	OK            bool        `json:"ok"`
	Competition   string      `json:"competition"`
	ScorerDigest  string      `json:"scorer_digest"`
	HoldoutDigest string      `json:"holdout_digest"`
	HoldoutRows   int         `json:"holdout_rows"`
	SampleSHA256  string      `json:"sample_sha256"`
	Checks        []CertCheck `json:"checks"`
	Module        *ModuleInfo `json:"module,omitempty"`
	Scores        *CertScores `json:"scores,omitempty"`
	Adversarial   *Adversity  `json:"adversarial,omitempty"`
	Resources     *Resources  `json:"resources,omitempty"`
	CheckedAt     time.Time   `json:"checked_at"`
	ElapsedMillis int64       `json:"elapsed_ms"`
}

// CertCheck is one check's verdict; Detail says why it failed, or what it saw.
type CertCheck struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// ModuleInfo is what the module declares and the sandbox limits it runs under.
type ModuleInfo struct {
	SizeBytes        int               `json:"size_bytes"`
	Imports          []string          `json:"imports"`
	Exports          []string          `json:"exports"`
	Memories         []wasminfo.Memory `json:"memories"`
	TimeLimitMillis  int64             `json:"time_limit_ms"`
	MemoryLimitBytes uint64            `json:"memory_limit_bytes"`
}

// CertScores are the primary scores the report saw.
type CertScores struct {
	Sample   *float64  `json:"sample,omitempty"`
	Perfect  *float64  `json:"perfect,omitempty"`
	Permuted *float64  `json:"permuted,omitempty"`
	Shuffled []float64 `json:"shuffled,omitempty"`
}

// Adversity counts the outcomes of the adversarial submissions.
type Adversity struct {
	Total                int           `json:"total"`
	RejectedByValidation int           `json:"rejected_by_validation"`
	RefusedByModule      int           `json:"refused_by_module"`
	Scored               int           `json:"scored"`
	Failed               int           `json:"failed"`
	Failures             []CaseFailure `json:"failures,omitempty"`
}

// CaseFailure is one adversarial submission the module mishandled.
type CaseFailure struct {
	Case    string `json:"case"`
	Outcome string `json:"outcome"` // crash | timeout | memory | output | not finite
	Detail  string `json:"detail,omitempty"`
}

// Resources is the time and memory of scoring the perfect submission.
type Resources struct {
	Rows             int    `json:"rows"`
	MedianMillis     int64  `json:"median_ms"`
	MaxMillis        int64  `json:"max_ms"`
	PeakMemoryBytes  uint64 `json:"peak_memory_bytes"`
	TimeLimitMillis  int64  `json:"time_limit_ms"`
	MemoryLimitBytes uint64 `json:"memory_limit_bytes"`
}

// Failed names the checks that failed.
func (r CertificationReport) Failed() []string {
	var out []string
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c.Name)
		}
	}
	return out
}

// Report returns the certification report of the competition's current
// scorer, holdout and sample submission, computing it (and keeping it) when
// this triple has none yet (in a scoring worker with Deps.SandboxJobs: a
// *PendingError when it takes longer than the request's wait). A
// competition missing one of the three gets a report whose "ready" check
// says which.
func (s *Service) Report(ctx context.Context, v Viewer, slug string) (CertificationReport, error) {
	c, err := s.authored(ctx, v, slug)
	if err != nil {
		return CertificationReport{}, err
	}
	return s.report(ctx, c, nil, nil)
}

// certifyCandidate certifies a candidate holdout or scorer (the other parts
// current) and returns a *NotCertifiedError when a check fails.
func (s *Service) certifyCandidate(ctx context.Context, c db.Competition, h *Holdout, m *ScorerModule) (CertificationReport, error) {
	r, err := s.report(ctx, c, h, m)
	if err != nil {
		return r, err
	}
	if !r.OK {
		return r, &NotCertifiedError{Report: r}
	}
	return r, nil
}

// report computes or fetches the report of c with the given holdout and
// module (nil: the current ones). One report runs per competition at a time.
func (s *Service) report(ctx context.Context, c db.Competition, h *Holdout, m *ScorerModule) (CertificationReport, error) {
	mu, _ := s.certLocks.LoadOrStore(c.ID, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	r := CertificationReport{Competition: c.Slug, CheckedAt: s.now().UTC()}
	var missing []string
	if h == nil {
		if c.CurrentHoldoutID.Valid {
			cur, err := s.holdoutOf(ctx, c)
			if err != nil {
				return r, err
			}
			h = &cur
		} else {
			missing = append(missing, "a holdout")
		}
	}
	if m == nil {
		if c.CurrentScorerID.Valid {
			cur, err := s.scorerOf(ctx, c)
			if err != nil {
				return r, err
			}
			m = &cur
		} else {
			missing = append(missing, "a scorer module")
		}
	}
	sample, err := s.sampleSubmission(ctx, c)
	if err != nil {
		missing = append(missing, "a sample submission")
	}
	if len(missing) > 0 {
		r.Checks = []CertCheck{{Name: CheckReady, Detail: "upload " + strings.Join(missing, ", ") + " first"}}
		return r, nil
	}
	sum := sha256.Sum256(sample)
	r.ScorerDigest, r.HoldoutDigest, r.HoldoutRows, r.SampleSHA256 = m.Digest, h.Digest, h.Rows, hex.EncodeToString(sum[:])
	key := db.GetCertificationReportParams{CompetitionID: c.ID, ScorerDigest: m.Digest, HoldoutDigest: h.Digest, SampleSha256: r.SampleSHA256}
	if row, err := s.st.GetCertificationReport(ctx, key); err == nil {
		var cached CertificationReport
		if err := json.Unmarshal([]byte(row.ReportJson), &cached); err == nil {
			return cached, nil
		}
	} else if !store.IsNotFound(err) {
		return r, fmt.Errorf("certification report of %s: %w", c.Slug, err)
	}
	if s.sandboxJobs {
		return s.remoteReport(ctx, c, *h, *m, sample)
	}
	err = s.computeReport(ctx, c, &r, *h, *m, sample)
	return r, err
}

// computeReport runs the checks of r in this process's sandbox and keeps
// the report. A service with Deps.SandboxJobs calls it only from its worker.
func (s *Service) computeReport(ctx context.Context, c db.Competition, r *CertificationReport, h Holdout, m ScorerModule, sample []byte) error {
	began := time.Now()
	if err := s.certify(ctx, r, h, m, sample); err != nil {
		return err
	}
	r.ElapsedMillis = time.Since(began).Milliseconds()
	r.OK = len(r.Failed()) == 0
	b, _ := json.Marshal(r)
	if _, err := s.st.InsertCertificationReport(ctx, db.InsertCertificationReportParams{CompetitionID: c.ID,
		ScorerDigest: m.Digest, HoldoutDigest: h.Digest, SampleSha256: r.SampleSHA256, Ok: r.OK, ReportJson: string(b)}); err != nil {
		return fmt.Errorf("keep certification report of %s: %w", c.Slug, err)
	}
	return nil
}

// outcome is one scoring's result.
type outcome struct {
	res *abi.Result
	use Usage
	err error
}

func (s *Service) probe(ctx context.Context, h Holdout, m ScorerModule, file []byte, seed uint64) outcome {
	if pe, ok := s.eng.(ProbeEngine); ok {
		res, u, err := pe.Probe(ctx, h, m, file, seed)
		return outcome{res, u, err}
	}
	began := time.Now()
	res, err := s.eng.Score(ctx, h, m, file)
	return outcome{res: abiResult(res), use: Usage{Duration: time.Since(began)}, err: err}
}

// abiResult is an engine Result in the module's own form (secondaries in
// name order), or nil.
func abiResult(r *engine.Result) *abi.Result {
	if r == nil {
		return nil
	}
	out := &abi.Result{Primary: r.PrimaryScore, PerUnit: r.PerUnit}
	for _, name := range slices.Sorted(maps.Keys(r.Secondary)) {
		out.Secondary = append(out.Secondary, abi.Named{Name: name, Value: r.Secondary[name]})
	}
	return out
}

// failure describes a failed scoring for the report: the kind and the
// module's message, cut short (it is the author's own module talking).
func failure(err error) (kind, detail string) {
	var ie *InvalidError
	var se *ScorerError
	switch {
	case errors.As(err, &ie):
		return "rejected by validation", summarize(ie.Problems)
	case errors.As(err, &se):
		d := se.Message
		if se.Detail != "" && se.Detail != se.Message {
			d += ": " + se.Detail
		}
		if len(d) > 300 {
			d = d[:300] + "…"
		}
		switch se.Kind {
		case ScorerVerdict:
			if se.Public {
				return "refused by the module", d
			}
			return "crash", d
		case ScorerTimeout, ScorerMemory, ScorerOutput, ScorerRejected:
			return string(se.Kind), d
		}
		return "crash", d
	}
	return "error", err.Error()
}

func fmtScore(v float64) string { return strconv.FormatFloat(v, 'g', 10, 64) }

// certify runs every check into r. Only infrastructure failures (the
// database, a missing holdout file) are returned.
func (s *Service) certify(ctx context.Context, r *CertificationReport, h Holdout, m ScorerModule, sample []byte) error {
	c := &certRun{s: s, r: r, h: h, m: m, higher: h.Spec.HigherIsBetter}
	if loaded, err := c.load(ctx); err != nil || !loaded {
		return err
	}
	hd, err := holdout.ReadFile(h.Spec, h.Path)
	if err != nil {
		return fmt.Errorf("read holdout %s: %w", h.Digest, err)
	}
	c.g = newSubgen(hd)
	r.Scores = &CertScores{}
	c.sample(ctx, sample)
	perfect := c.g.perfect()
	perfectRuns := c.seeded(ctx, perfect)
	permuted := c.controls(ctx)
	adv, stopped, err := c.adversarial(ctx)
	if err != nil {
		return err
	}
	c.perfectAndPermuted(perfectRuns[0], permuted)
	c.determinism(ctx, perfect, perfectRuns, sample)
	if adv.Failed == 0 {
		c.add(CheckAdversarial, true, "%d submissions: %d rejected by validation, %d refused by the module, %d scored; no crash or timeout",
			adv.Total, adv.RejectedByValidation, adv.RefusedByModule, adv.Scored)
	} else {
		f := adv.Failures[0]
		c.add(CheckAdversarial, false, "%d of %d submissions failed the module (first: %s, a %s: %s)%s",
			adv.Failed, adv.Total, f.Case, f.Outcome, f.Detail, stopped)
	}
	c.resources(perfectRuns)
	return nil
}

// certRun is one certification: the report it fills, the module and
// holdout under test, and every finite score so far, which the perfect
// submission must not lose to.
type certRun struct {
	s      *Service
	r      *CertificationReport
	h      Holdout
	m      ScorerModule
	g      *subgen
	higher bool
	seen   []seenScore
}

// seenScore is a finite score of a probe, named for the report.
type seenScore struct {
	what  string
	score float64
}

func (c *certRun) add(name string, ok bool, format string, args ...any) {
	c.r.Checks = append(c.r.Checks, CertCheck{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
}

// skipRest marks the checks from index from on as not run.
func (c *certRun) skipRest(from int, why string) {
	for _, n := range []string{CheckLoad, CheckSample, CheckPerfect, CheckPermuted, CheckDeterminism, CheckAdversarial, CheckResources}[from:] {
		c.add(n, false, "not run: %s", why)
	}
}

func (c *certRun) better(a, b float64) bool { return a > b == c.higher && a != b }

func (c *certRun) probe(ctx context.Context, file []byte, seed uint64) outcome {
	return c.s.probe(ctx, c.h, c.m, file, seed)
}

// seeded scores file three times, in differently seeded sandboxes.
func (c *certRun) seeded(ctx context.Context, file []byte) []outcome {
	var runs []outcome
	for _, seed := range []uint64{0, 0x5eed0001, 0x5eed0002} {
		runs = append(runs, c.probe(ctx, file, seed))
	}
	return runs
}

func finite(o outcome) bool {
	return o.err == nil && !math.IsNaN(o.res.Primary) && !math.IsInf(o.res.Primary, 0)
}

// load is the load check: the module's imports and exports, and a start in
// the sandbox. When it fails, every other check is marked not run and
// loaded is false.
func (c *certRun) load(ctx context.Context) (loaded bool, err error) {
	info, err := wasminfo.Read(c.m.Wasm)
	mi := &ModuleInfo{SizeBytes: len(c.m.Wasm), TimeLimitMillis: c.s.limits.Timeout.Milliseconds(), MemoryLimitBytes: c.s.limits.MemoryBytes,
		Imports: []string{}, Exports: info.Exports, Memories: info.Memories}
	for _, im := range info.Imports {
		mi.Imports = append(mi.Imports, im.Module+"."+im.Name+" ("+im.Kind+")")
	}
	c.r.Module = mi
	if err != nil {
		c.add(CheckLoad, false, "%v", err)
		c.skipRest(1, "the module did not load")
		return false, nil
	}
	if _, err := c.s.eng.Check(ctx, c.m); err != nil {
		var se *ScorerError
		if !errors.As(err, &se) {
			return false, fmt.Errorf("check scorer: %w", err)
		}
		c.add(CheckLoad, false, "%s", se.Message)
		c.skipRest(1, "the module did not load")
		return false, nil
	}
	c.add(CheckLoad, true, "loads in the sandbox with %d allowed imports; limits: %d ms and %d MiB per scoring",
		len(info.Imports), mi.TimeLimitMillis, mi.MemoryLimitBytes>>20)
	return true, nil
}

// sample is the sample check: the competition's sample submission scores.
func (c *certRun) sample(ctx context.Context, sample []byte) {
	so := c.probe(ctx, sample, 0)
	switch {
	case finite(so):
		v := so.res.Primary
		c.r.Scores.Sample = &v
		c.seen = append(c.seen, seenScore{"the sample submission", v})
		c.add(CheckSample, true, "scored %s", fmtScore(v))
	case so.err != nil:
		kind, d := failure(so.err)
		c.add(CheckSample, false, "%s: %s", kind, d)
	default:
		c.add(CheckSample, false, "primary score is not finite")
	}
}

// controls scores the permuted submission and three shuffled ones, which
// the perfect submission must beat; it returns the permuted outcome.
func (c *certRun) controls(ctx context.Context) (permuted outcome) {
	pm := c.probe(ctx, c.g.permuted(), 0)
	for i := range 3 {
		if o := c.probe(ctx, c.g.shuffled(uint64(i+1)), 0); finite(o) {
			c.r.Scores.Shuffled = append(c.r.Scores.Shuffled, o.res.Primary)
			c.seen = append(c.seen, seenScore{fmt.Sprintf("shuffled submission %d", i+1), o.res.Primary})
		}
	}
	if finite(pm) {
		v := pm.res.Primary
		c.r.Scores.Permuted = &v
		c.seen = append(c.seen, seenScore{"the permuted submission", v})
	}
	return pm
}

// adversarial scores the adversarial cases (its scored cases also compete
// with the perfect score). A timeout or a memory failure stops the run;
// stopped then says where.
func (c *certRun) adversarial(ctx context.Context) (adv *Adversity, stopped string, err error) {
	adv = &Adversity{Total: AdversarialCases}
	c.r.Adversarial = adv
	for k := 0; k < AdversarialCases; k++ {
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		name, file := c.g.adversarial(k)
		o := c.probe(ctx, file, 0)
		if o.err == nil {
			if !finite(o) {
				adv.Failed++
				adv.Failures = append(adv.Failures, CaseFailure{Case: name, Outcome: "not finite"})
				continue
			}
			adv.Scored++
			c.seen = append(c.seen, seenScore{"adversarial case " + strconv.Quote(name), o.res.Primary})
			continue
		}
		kind, d := failure(o.err)
		switch kind {
		case "rejected by validation":
			adv.RejectedByValidation++
		case "refused by the module":
			adv.RefusedByModule++
		case "error":
			return nil, "", fmt.Errorf("adversarial case %s: %w", name, o.err)
		default:
			adv.Failed++
			if len(adv.Failures) < 20 {
				adv.Failures = append(adv.Failures, CaseFailure{Case: name, Outcome: kind, Detail: d})
			}
			if kind == string(ScorerTimeout) || kind == string(ScorerMemory) {
				stopped = fmt.Sprintf("; stopped after case %d of %d (a %s)", k+1, AdversarialCases, kind)
				adv.Total = k + 1
				k = AdversarialCases
			}
		}
	}
	return adv, stopped, nil
}

// perfectAndPermuted are the perfect check (the holdout itself scores best
// of all) and the permuted check (worse than perfect).
func (c *certRun) perfectAndPermuted(po, pm outcome) {
	if !finite(po) {
		kind, d := "not finite", ""
		if po.err != nil {
			kind, d = failure(po.err)
		}
		c.add(CheckPerfect, false, "the perfect submission did not score: %s %s", kind, d)
		c.add(CheckPermuted, false, "not run: the perfect submission did not score")
		return
	}
	v := po.res.Primary
	c.r.Scores.Perfect = &v
	var beats []string
	for _, x := range c.seen {
		if c.better(x.score, v) {
			beats = append(beats, fmt.Sprintf("%s scored %s", x.what, fmtScore(x.score)))
		}
	}
	if len(beats) == 0 {
		c.add(CheckPerfect, true, "the perfect submission scored %s, the best of the %d scored submissions", fmtScore(v), len(c.seen)+1)
	} else {
		c.add(CheckPerfect, false, "the perfect submission (the holdout itself) scored %s but %s (%d in all; %s is better)",
			fmtScore(v), beats[0], len(beats), map[bool]string{true: "higher", false: "lower"}[c.higher])
	}
	switch {
	case !finite(pm):
		kind, d := "not finite", ""
		if pm.err != nil {
			kind, d = failure(pm.err)
		}
		c.add(CheckPermuted, false, "the permuted submission did not score: %s %s", kind, d)
	case c.better(v, pm.res.Primary):
		c.add(CheckPermuted, true, "the permuted submission scored %s, worse than the perfect %s", fmtScore(pm.res.Primary), fmtScore(v))
	default:
		c.add(CheckPermuted, false, "the permuted submission (every unit given another unit's truth) scored %s, not worse than the perfect %s",
			fmtScore(pm.res.Primary), fmtScore(v))
	}
}

// determinism: the perfect runs, and the sample and a shuffled
// submission, each three times under different seeds.
func (c *certRun) determinism(ctx context.Context, perfect []byte, perfectRuns []outcome, sample []byte) {
	detOK, detail := true, ""
	for _, f := range []struct {
		what string
		file []byte
		runs []outcome
	}{{"the perfect submission", perfect, perfectRuns}, {"the sample submission", sample, nil}, {"shuffled submission 1", c.g.shuffled(1), nil}} {
		runs := f.runs
		if runs == nil {
			runs = c.seeded(ctx, f.file)
		}
		for i := 1; i < len(runs) && detOK; i++ {
			if d := sameOutcome(runs[0], runs[i]); d != "" {
				detOK = false
				detail = fmt.Sprintf("%s: run %d differs from run 1 (%s); a score must depend only on the submission and the holdout", f.what, i+1, d)
			}
		}
	}
	if detOK {
		detail = "three runs each of the perfect, sample and a shuffled submission, in differently seeded sandboxes, were bit-identical"
	}
	c.add(CheckDeterminism, detOK, "%s", detail)
}

// resources is the resources check, from the perfect runs: at most half
// the time limit and three quarters of the memory limit.
func (c *certRun) resources(perfectRuns []outcome) {
	s := c.s
	res := &Resources{Rows: c.h.Rows, TimeLimitMillis: s.limits.Timeout.Milliseconds(), MemoryLimitBytes: s.limits.MemoryBytes}
	c.r.Resources = res
	var ds []time.Duration
	for _, o := range perfectRuns {
		if o.err == nil {
			ds = append(ds, o.use.Duration)
			res.PeakMemoryBytes = max(res.PeakMemoryBytes, o.use.MemoryBytes)
		}
	}
	if len(ds) == 0 {
		c.add(CheckResources, false, "not measured: the perfect submission did not score")
		return
	}
	slices.Sort(ds)
	res.MedianMillis, res.MaxMillis = ds[len(ds)/2].Milliseconds(), ds[len(ds)-1].Milliseconds()
	okTime := s.limits.Timeout <= 0 || ds[len(ds)-1] <= s.limits.Timeout/2
	okMem := s.limits.MemoryBytes == 0 || res.PeakMemoryBytes <= s.limits.MemoryBytes/4*3
	c.add(CheckResources, okTime && okMem, "at %d rows: median %d ms, max %d ms (limit %d ms; at most half passes), peak memory %d MiB (limit %d MiB; at most three quarters passes)",
		c.h.Rows, res.MedianMillis, res.MaxMillis, res.TimeLimitMillis, res.PeakMemoryBytes>>20, res.MemoryLimitBytes>>20)
}

// sameOutcome compares two runs bit for bit; "" when identical.
func sameOutcome(a, b outcome) string {
	if (a.err == nil) != (b.err == nil) {
		return "one scored, the other failed"
	}
	if a.err != nil {
		if a.err.Error() != b.err.Error() {
			return "different errors"
		}
		return ""
	}
	if math.Float64bits(a.res.Primary) != math.Float64bits(b.res.Primary) {
		return fmt.Sprintf("primary %s vs %s", fmtScore(a.res.Primary), fmtScore(b.res.Primary))
	}
	if len(a.res.Secondary) != len(b.res.Secondary) {
		return "different secondary values"
	}
	for i := range a.res.Secondary {
		if a.res.Secondary[i].Name != b.res.Secondary[i].Name ||
			math.Float64bits(a.res.Secondary[i].Value) != math.Float64bits(b.res.Secondary[i].Value) {
			return "secondary " + a.res.Secondary[i].Name + " differs"
		}
	}
	if len(a.res.PerUnit) != len(b.res.PerUnit) {
		return "different per-unit values"
	}
	for i := range a.res.PerUnit {
		if math.Float64bits(a.res.PerUnit[i]) != math.Float64bits(b.res.PerUnit[i]) {
			return fmt.Sprintf("per-unit value %d differs", i+1)
		}
	}
	return ""
}
