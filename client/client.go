package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Client calls one MedForge API. The zero value is not usable; set BaseURL.
type Client struct {
	// BaseURL is the server root, e.g. https://api.medforge.example.org
	// (no /api/v2).
	BaseURL string
	// Token is a personal API token (mfp_...); empty sends no credentials.
	Token string
	// HTTP is the client to use; http.DefaultClient when nil.
	HTTP *http.Client
	// UserAgent is sent with every request.
	UserAgent string
}

// FieldError is one problem with a request field (for a submission: a
// row or column problem of the file).
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is an API error answer (application/problem+json).
type Error struct {
	Status    int          `json:"status"`
	Code      string       `json:"code"`
	Detail    string       `json:"detail"`
	RequestID string       `json:"request_id"`
	Errors    []FieldError `json:"errors,omitempty"`
	// RetryAfter is the Retry-After header, when the server sent one.
	RetryAfter time.Duration `json:"-"`
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s (HTTP %d %s)", e.Detail, e.Status, e.Code)
	if e.Detail == "" {
		s = fmt.Sprintf("HTTP %d %s", e.Status, e.Code)
	}
	return s
}

// StatusOf is the HTTP status of an *Error in err's chain, or 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// Submission is one submitted file and its scoring state.
type Submission struct {
	ID           int64      `json:"id"`
	Competition  string     `json:"competition"`
	Filename     string     `json:"filename"`
	SHA256       string     `json:"sha256"`
	SizeBytes    int64      `json:"size_bytes"`
	RowCount     int        `json:"row_count"`
	Status       string     `json:"status"` // queued | scoring | scored | failed
	Error        string     `json:"error,omitempty"`
	PrimaryScore *float64   `json:"primary_score"`
	CILow        *float64   `json:"ci_low,omitempty"`
	CIHigh       *float64   `json:"ci_high,omitempty"`
	Rescoring    bool       `json:"rescoring,omitempty"`
	IsFinal      bool       `json:"is_final"`
	CreatedAt    time.Time  `json:"created_at"`
	ScoredAt     *time.Time `json:"scored_at,omitempty"`
}

// Done reports whether scoring ended (scored or failed) and no rescoring
// is pending.
func (s Submission) Done() bool {
	return (s.Status == "scored" || s.Status == "failed") && !s.Rescoring
}

// SubmitResult is the answer to a submission.
type SubmitResult struct {
	Submission     Submission `json:"submission"`
	DailyCap       int        `json:"daily_cap"`
	RemainingToday int        `json:"remaining_today"`
}

// MySubmissions is the caller's submissions to one competition, newest
// first, with today's cap.
type MySubmissions struct {
	Submissions    []Submission `json:"submissions"`
	DailyCap       int          `json:"daily_cap"`
	RemainingToday int          `json:"remaining_today"`
}

// Entry is one leaderboard row.
type Entry struct {
	Rank           int       `json:"rank"`
	DisplayName    string    `json:"display_name"`
	Score          float64   `json:"score"`
	CILow          *float64  `json:"ci_low,omitempty"`
	CIHigh         *float64  `json:"ci_high,omitempty"`
	SubmissionID   int64     `json:"submission_id"`
	Submissions    int       `json:"submission_count"`
	LastSubmission time.Time `json:"last_submission_at"`
	NotSignificant bool      `json:"not_significant"`
	// The paired bootstrap comparison with the leader; nil when unavailable.
	PValueVsLeader *float64 `json:"p_value_vs_leader"`
	DiffVsLeader   *float64 `json:"diff_vs_leader"`
	DiffLow        *float64 `json:"diff_low"`
	DiffHigh       *float64 `json:"diff_high"`
	RankLow        *int     `json:"rank_low"`
	RankHigh       *int     `json:"rank_high"`
	TiedWithLeader *bool    `json:"tied_with_leader"`
}

// Significance says what a board's comparison figures cover.
type Significance struct {
	Available bool   `json:"available"`
	Method    string `json:"method,omitempty"`
	Resamples int    `json:"resamples,omitempty"`
	Covered   int    `json:"covered"`
	Note      string `json:"note,omitempty"`
}

// Leaderboard is a competition's ranking.
type Leaderboard struct {
	Competition    string       `json:"competition"`
	Board          string       `json:"board"`
	ScoringMode    string       `json:"scoring_mode"`
	HigherIsBetter bool         `json:"higher_is_better"`
	Revealed       bool         `json:"revealed"`
	DisplayDigits  int          `json:"display_digits,omitempty"`
	Version        int64        `json:"version"`
	Total          int          `json:"total"`
	Significance   Significance `json:"significance"`
	Entries        []Entry      `json:"entries"`
}

// Progress is called as an upload proceeds with the bytes sent so far and
// the total.
type Progress func(sent, total int64)

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) url(path string) string {
	return strings.TrimRight(c.BaseURL, "/") + "/api/v2" + path
}

func (c *Client) do(req *http.Request, out any) error {
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	req.Header.Set("Accept", "application/json")
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	res, err := c.httpClient().Do(req)
	if err != nil {
		return &NetworkError{Err: err}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return &NetworkError{Err: err}
	}
	if res.StatusCode >= 300 {
		e := &Error{Status: res.StatusCode}
		if jerr := json.Unmarshal(body, e); jerr != nil || e.Code == "" {
			e.Code = "http_" + strconv.Itoa(res.StatusCode)
			e.Detail = strings.TrimSpace(http.StatusText(res.StatusCode))
		}
		e.Status = res.StatusCode
		if ra := res.Header.Get("Retry-After"); ra != "" {
			if secs, err := strconv.Atoi(ra); err == nil {
				e.RetryAfter = time.Duration(secs) * time.Second
			}
		}
		return e
	}
	if res.StatusCode == http.StatusAccepted {
		var p struct {
			Data pendingBody `json:"data"`
		}
		if json.Unmarshal(body, &p) == nil && p.Data.Pending {
			return &PendingError{Job: p.Data.Job}
		}
	}
	if out == nil {
		return nil
	}
	env := struct {
		Data any `json:"data"`
	}{Data: out}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("decode %s %s: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

// NetworkError means the server could not be reached or the connection
// broke; no answer was read.
type NetworkError struct{ Err error }

func (e *NetworkError) Error() string { return "cannot reach the MedForge API: " + e.Err.Error() }
func (e *NetworkError) Unwrap() error { return e.Err }

func (c *Client) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(path), nil)
	if err != nil {
		return err
	}
	return c.do(req, out)
}

// Submit uploads the file at path to competition slug as multipart field
// "file", streaming it and reporting progress (when not nil).
func (c *Client) Submit(ctx context.Context, slug, path string, progress Progress) (SubmitResult, error) {
	var out SubmitResult
	err := c.upload(ctx, "/competitions/"+url.PathEscape(slug)+"/submissions", path, nil, progress, &out)
	return out, err
}

type progressReader struct {
	r     io.Reader
	sent  int64
	total int64
	fn    Progress
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.sent += int64(n)
	if p.fn != nil && n > 0 {
		p.fn(p.sent, p.total)
	}
	return n, err
}

// Submission reads one of the caller's submissions.
func (c *Client) Submission(ctx context.Context, id int64) (Submission, error) {
	var out Submission
	err := c.get(ctx, "/submissions/"+strconv.FormatInt(id, 10), &out)
	return out, err
}

// WaitScored polls submission id every interval until scoring ended (or
// ctx ends) and returns its last state.
func (c *Client) WaitScored(ctx context.Context, id int64, interval time.Duration) (Submission, error) {
	for {
		s, err := c.Submission(ctx, id)
		if err != nil || s.Done() {
			return s, err
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(interval):
		}
	}
}

// MySubmissions lists the caller's submissions to competition slug.
func (c *Client) MySubmissions(ctx context.Context, slug string) (MySubmissions, error) {
	var out MySubmissions
	err := c.get(ctx, "/competitions/"+url.PathEscape(slug)+"/submissions/me", &out)
	return out, err
}

// Leaderboard reads up to limit entries (1-1000) of competition slug.
func (c *Client) Leaderboard(ctx context.Context, slug string, limit int) (Leaderboard, error) {
	return c.Board(ctx, slug, "public", limit)
}

// Board reads the public or the private board (the private one is 404
// before the reveal except for the competition's owner and admins).
func (c *Client) Board(ctx context.Context, slug, board string, limit int) (Leaderboard, error) {
	var out Leaderboard
	err := c.get(ctx, "/competitions/"+url.PathEscape(slug)+"/leaderboard?board="+url.QueryEscape(board)+"&limit="+strconv.Itoa(limit), &out)
	return out, err
}

// SetFinal marks (final true) or unmarks one of the caller's submissions
// as final for the private board.
func (c *Client) SetFinal(ctx context.Context, slug string, id int64, final bool) (Submission, error) {
	method := http.MethodPut
	if !final {
		method = http.MethodDelete
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url("/competitions/"+url.PathEscape(slug)+"/submissions/"+strconv.FormatInt(id, 10)+"/final"), nil)
	if err != nil {
		return Submission{}, err
	}
	var out Submission
	return out, c.do(req, &out)
}

// upload streams the file at path as multipart field "file" (plus fields)
// to path api with an exact Content-Length, reporting progress.
func (c *Client) upload(ctx context.Context, api, path string, fields map[string]string, progress Progress, out any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory", path)
	}
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			return err
		}
	}
	if _, err := mw.CreateFormFile("file", filepath.Base(path)); err != nil {
		return err
	}
	headLen := head.Len()
	if err := mw.Close(); err != nil {
		return err
	}
	tailBytes := append([]byte(nil), head.Bytes()[headLen:]...)
	headBytes := head.Bytes()[:headLen]
	total := int64(len(headBytes)) + st.Size() + int64(len(tailBytes))
	body := io.MultiReader(bytes.NewReader(headBytes), &progressReader{r: f, total: st.Size(), fn: progress}, bytes.NewReader(tailBytes))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url(api), body)
	if err != nil {
		return err
	}
	req.ContentLength = total
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.do(req, out)
}

// postJSON posts body as JSON to path.
func (c *Client) postJSON(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path), rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.do(req, out)
}

// AuthorCompetition is a competition as its author sees it
// (GET /author/competitions/{slug}); fields the CLI does not use are kept
// in Raw.
type AuthorCompetition struct {
	Slug      string `json:"slug"`
	Title     string `json:"title"`
	Published bool   `json:"published"`
	Certified bool   `json:"certified"`
	Metric    string `json:"metric"`
	Holdout   *struct {
		Version int    `json:"version"`
		Digest  string `json:"digest"`
		Rows    int    `json:"rows"`
	} `json:"holdout"`
	Scorer *struct {
		Digest string `json:"digest"`
		Name   string `json:"name"`
	} `json:"scorer"`
	Files []struct {
		Name string `json:"name"`
		Kind string `json:"kind"`
		Size int64  `json:"size"`
	} `json:"files"`
}

// CertCheck is one check of a certification report.
type CertCheck struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// CertReport is a competition's certification report (the CLI prints its
// checks; --json prints all of it).
type CertReport struct {
	OK            bool            `json:"ok"`
	Checks        []CertCheck     `json:"checks"`
	ElapsedMillis int64           `json:"elapsed_ms"`
	Raw           json.RawMessage `json:"-"`
}

// CreateCompetition creates a draft from the JSON object draft (the API's
// Draft: slug, title, description, metric, direction, daily_cap,
// id_column, columns, layout).
func (c *Client) CreateCompetition(ctx context.Context, draft json.RawMessage) (AuthorCompetition, error) {
	var out AuthorCompetition
	return out, c.postJSON(ctx, http.MethodPost, "/author/competitions", draft, &out)
}

// AuthorUpload uploads a public file (kind training, public_eval or
// sample_submission) or, with kind "holdout", the hidden holdout. out
// receives the answer's data.
func (c *Client) AuthorUpload(ctx context.Context, slug, kind, path string, progress Progress, out any) error {
	base := "/author/competitions/" + url.PathEscape(slug)
	if kind == "holdout" {
		return c.AwaitJobs(ctx, slug, func() error { return c.upload(ctx, base+"/holdout", path, nil, progress, out) }, nil)
	}
	return c.upload(ctx, base+"/files", path, map[string]string{"kind": kind}, progress, out)
}

// AuthorScorer uploads a scorer module.
func (c *Client) AuthorScorer(ctx context.Context, slug, path, name, version string, progress Progress, out any) error {
	fields := map[string]string{}
	if name != "" {
		fields["name"] = name
	}
	if version != "" {
		fields["version"] = version
	}
	return c.AwaitJobs(ctx, slug, func() error {
		return c.upload(ctx, "/author/competitions/"+url.PathEscape(slug)+"/scorer", path, fields, progress, out)
	}, nil)
}

// SandboxJob is a scorer validation or certification run in a scoring
// worker (GET /author/competitions/{slug}/jobs/{id}).
type SandboxJob struct {
	ID     int64  `json:"id"`
	Kind   string `json:"kind"`
	Status string `json:"status"` // queued | running | done | failed
	Error  string `json:"error,omitempty"`
}

// pendingBody is the data of a 202 whose sandbox job is not done.
type pendingBody struct {
	Pending bool       `json:"pending"`
	Job     SandboxJob `json:"job"`
}

// PendingError is a 202: the request's sandbox job is still queued or
// running in a scoring worker. The author commands wait for it (Job) and
// send the request again; see AwaitJobs.
type PendingError struct{ Job SandboxJob }

func (e *PendingError) Error() string {
	return fmt.Sprintf("%s job %d is %s in a scoring worker", e.Job.Kind, e.Job.ID, e.Job.Status)
}

// JobPoll is how often a pending sandbox job is polled.
var JobPoll = time.Second

// AwaitJobs runs op, and while it answers 202 (a *PendingError) polls the
// job of competition slug until it is done and runs op again; wait, when
// not nil, is told about each job. A failed job is an error.
func (c *Client) AwaitJobs(ctx context.Context, slug string, op func() error, wait func(SandboxJob)) error {
	for tries := 0; ; tries++ {
		err := op()
		var pe *PendingError
		if !errors.As(err, &pe) || tries == 10 {
			return err
		}
		job := pe.Job
		for job.Status == "queued" || job.Status == "running" {
			if wait != nil {
				wait(job)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(JobPoll):
			}
			if err := c.get(ctx, "/author/competitions/"+url.PathEscape(slug)+"/jobs/"+strconv.FormatInt(job.ID, 10), &job); err != nil {
				return err
			}
		}
		if job.Status == "failed" {
			return fmt.Errorf("%s job %d failed in the scoring worker: %s", job.Kind, job.ID, job.Error)
		}
	}
}

// Report fetches (computing it when needed) the certification report,
// waiting for the scoring worker's job when it answers 202.
func (c *Client) Report(ctx context.Context, slug string) (CertReport, error) {
	var raw json.RawMessage
	if err := c.AwaitJobs(ctx, slug, func() error {
		return c.get(ctx, "/author/competitions/"+url.PathEscape(slug)+"/report", &raw)
	}, nil); err != nil {
		return CertReport{}, err
	}
	var out CertReport
	if err := json.Unmarshal(raw, &out); err != nil {
		return out, err
	}
	out.Raw = raw
	return out, nil
}

// Publish publishes a draft (a 409 not_certified *Error names the failed
// checks).
func (c *Client) Publish(ctx context.Context, slug string) (AuthorCompetition, error) {
	var out AuthorCompetition
	return out, c.AwaitJobs(ctx, slug, func() error {
		return c.postJSON(ctx, http.MethodPost, "/author/competitions/"+url.PathEscape(slug)+"/publish", nil, &out)
	}, nil)
}
