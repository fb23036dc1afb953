// Package httpcomp mounts the competitions endpoints on the MedForge HTTP
// server: competitions, datasets and their public files, submissions,
// leaderboards, and the admin scoring, rescoring and scorer-upload routes.
//
// It translates HTTP to competitions.Service calls and service errors to
// problem+json; it holds no state and writes no SQL. It never serves a byte
// from TEST_HOLDOUTS_DIR: files are served only through
// Service.OpenFile, which looks names up among a dataset's public files.
package httpcomp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/httpapi"
)

const tag = "competitions"

// StuckQueueAge is the age of the oldest waiting submission beyond which
// /healthz reports the scoring queue degraded (no worker is keeping up).
const StuckQueueAge = 15 * time.Minute

// Mount registers every competitions route on srv, the scoring metrics on
// its registry and the queue on /healthz. w scores admin "score now"
// requests synchronously; when nil (no embedded worker) a worker for those
// requests alone is made.
func Mount(srv *httpapi.Server, svc *competitions.Service, w *competitions.Worker) error {
	if err := svc.RegisterMetrics(srv.Metrics()); err != nil {
		return fmt.Errorf("competitions metrics: %w", err)
	}
	srv.Health().Register("scoring_queue", func(ctx context.Context) error {
		q, err := svc.Queue(ctx)
		if err == nil && q.OldestAgeSecs > StuckQueueAge.Seconds() {
			return fmt.Errorf("oldest queued submission waits for %.0fs", q.OldestAgeSecs)
		}
		return err
	})
	if w == nil {
		w = svc.NewWorker(competitions.WorkerOptions{Name: "admin-score-now"})
	}
	h := &handlers{svc: svc, w: w}
	for _, r := range append(append(h.routes(), h.authorRoutes()...), h.jobRoutes()...) {
		srv.Handle(r)
	}
	return nil
}

type handlers struct {
	svc *competitions.Service
	w   *competitions.Worker
}

func viewer(c *fiber.Ctx) competitions.Viewer {
	u := httpapi.CurrentUser(c)
	if u == nil {
		return competitions.Viewer{}
	}
	return competitions.Viewer{UserID: u.ID, Admin: u.IsAdmin(), Internal: u.CanUseInternal, Author: u.CanAuthor}
}

// Submission answers POST /competitions/{slug}/submissions.
type submitResponse = competitions.SubmitResult

// MySubmissions is the body of GET /competitions/{slug}/submissions/me.
type MySubmissions struct {
	Submissions    []competitions.Submission `json:"submissions"`
	DailyCap       int                       `json:"daily_cap"`
	RemainingToday int                       `json:"remaining_today"`
}

func (h *handlers) routes() []httpapi.Route {
	var out []httpapi.Route
	for _, g := range [][]httpapi.Route{h.competitionRoutes(), h.submissionRoutes(), h.datasetRoutes(), h.scoringRoutes()} {
		out = append(out, g...)
	}
	return out
}

// competitionRoutes are the competitions and their leaderboards.
func (h *handlers) competitionRoutes() []httpapi.Route {
	return []httpapi.Route{
		{Method: http.MethodGet, Path: "/competitions", Tags: []string{tag}, Summary: "List competitions",
			Description: "Every competition the caller may see (INTERNAL ones need can_use_internal).",
			Response:    []competitions.Competition{},
			Handler: func(c *fiber.Ctx) error {
				out, err := h.svc.ListCompetitions(c.UserContext(), viewer(c))
				if err != nil {
					return problem(err)
				}
				return httpapi.OK(c, http.StatusOK, out)
			}},
		{Method: http.MethodGet, Path: "/competitions/:slug", Tags: []string{tag}, Summary: "Get a competition",
			Response: competitions.Competition{},
			Handler: func(c *fiber.Ctx) error {
				out, err := h.svc.GetCompetition(c.UserContext(), viewer(c), slugParam(c))
				if err != nil {
					return problem(err)
				}
				return httpapi.OK(c, http.StatusOK, out)
			}},
		{Method: http.MethodGet, Path: "/competitions/:slug/leaderboard", Tags: []string{tag}, Summary: "Leaderboard",
			Description: "The public board: best official (public) score per user. The private board (public_private competitions): each user's best private score among their final submissions, " +
				"or among their best public ones when they marked none; it is 404 before the reveal for everyone but the competition's owner and admins. " +
				"Ties go to the earlier submission, then the lower id, on full-precision scores; participants see public_private scores rounded to display_digits significant digits. " +
				"Each entry carries a 95% bootstrap interval and a paired bootstrap comparison with the leader (p_value_vs_leader, diff_vs_leader with diff_low/diff_high, rank_low/rank_high, tied_with_leader) " +
				"when the metric gives per-unit contributions; significance says what the figures cover, or that they are unavailable.",
			Response: competitions.Leaderboard{},
			Query: []httpapi.Param{{Name: "board", Type: "string", Description: "public (default) or private"},
				{Name: "offset", Type: "integer", Description: "entries to skip (default 0)"},
				{Name: "limit", Type: "integer", Description: "entries to return, 1-1000 (default 100)"}},
			Handler: func(c *fiber.Ctx) error {
				offset, limit, err := page(c)
				if err != nil {
					return err
				}
				out, err := h.svc.LeaderboardJSON(c.UserContext(), viewer(c), slugParam(c), c.Query("board"), offset, limit)
				if err != nil {
					return problem(err)
				}
				return httpapi.OKRaw(c, http.StatusOK, out) // encoded once per board version and page
			}},
	}
}

// submissionRoutes are the caller's submissions: submit, mine, final marks, the private board's reveal, one submission.
func (h *handlers) submissionRoutes() []httpapi.Route {
	return []httpapi.Route{
		{Method: http.MethodPost, Path: "/competitions/:slug/submissions", Tags: []string{tag}, Auth: httpapi.AuthUser,
			Summary: "Submit a predictions file",
			Description: "Multipart field `file`, streamed into the submission store (at most MEDFORGE_BODY_LIMIT bytes). Validated at once against the holdout's ids and columns (422 lists the problems and does not count toward the cap); " +
				"429 daily_cap_reached with Retry-After when today's cap is used; 429 rate_limited with Retry-After past the upload rate limit (per user and per client IP, valid or not); 400 when the body is cut off or malformed.",
			RequestContentType: "multipart/form-data", Response: submitResponse{}, Status: http.StatusCreated,
			Handler: h.submit},
		{Method: http.MethodGet, Path: "/competitions/:slug/submissions/me", Tags: []string{tag}, Auth: httpapi.AuthUser,
			Summary: "My submissions to a competition", Response: MySubmissions{},
			Handler: func(c *fiber.Ctx) error {
				subs, capN, rem, err := h.svc.MySubmissions(c.UserContext(), viewer(c), slugParam(c))
				if err != nil {
					return problem(err)
				}
				return httpapi.OK(c, http.StatusOK, MySubmissions{Submissions: subs, DailyCap: capN, RemainingToday: rem})
			}},
		{Method: http.MethodPut, Path: "/competitions/:slug/submissions/:id/final", Tags: []string{tag}, Auth: httpapi.AuthUser,
			Summary: "Mark one of my submissions final (public_private competitions)",
			Description: "Up to final_limit submissions (default 2) until the selection deadline and the reveal; idempotent. Without any mark the private board uses the best public ones. " +
				"409 when the limit is reached, selection is closed, the submission failed, or the competition has no private board.",
			Response: competitions.Submission{},
			Handler:  h.final(true)},
		{Method: http.MethodDelete, Path: "/competitions/:slug/submissions/:id/final", Tags: []string{tag}, Auth: httpapi.AuthUser,
			Summary: "Unmark a final submission", Response: competitions.Submission{},
			Handler: h.final(false)},
		{Method: http.MethodPost, Path: "/competitions/:slug/reveal", Tags: []string{tag}, Auth: httpapi.AuthUser,
			Summary:     "Reveal the private board (owner or admin)",
			Description: "One-way: the private board becomes visible to everyone (an audit event records who revealed it); revealing again changes nothing.",
			Response:    competitions.Competition{},
			Handler: func(c *fiber.Ctx) error {
				out, err := h.svc.Reveal(c.UserContext(), viewer(c), slugParam(c))
				if err != nil {
					return problem(err)
				}
				return httpapi.OK(c, http.StatusOK, out)
			}},
		{Method: http.MethodGet, Path: "/submissions/:id", Tags: []string{tag}, Auth: httpapi.AuthUser,
			Summary: "One of my submissions", Response: competitions.Submission{},
			Query: []httpapi.Param{{Name: "wait", Type: "string",
				Description: "a duration up to 20s (e.g. 5s): while the submission is queued or scoring, wait that long for its score"}},
			Handler: func(c *fiber.Ctx) error {
				id, err := idParam(c)
				if err != nil {
					return err
				}
				var wait time.Duration
				if v := c.Query("wait"); v != "" {
					if wait, err = time.ParseDuration(v); err != nil || wait < 0 || wait > 20*time.Second {
						return httpapi.Invalid(httpapi.FieldError{Field: "wait", Message: "must be a duration from 0s to 20s"})
					}
				}
				out, err := h.svc.WaitSubmission(c.UserContext(), viewer(c), id, wait)
				if err != nil {
					return problem(err)
				}
				return httpapi.OK(c, http.StatusOK, out)
			}},
	}
}

// datasetRoutes are the datasets and their public files.
func (h *handlers) datasetRoutes() []httpapi.Route {
	return []httpapi.Route{
		{Method: http.MethodGet, Path: "/datasets", Tags: []string{tag}, Summary: "List datasets",
			Response: []competitions.Dataset{},
			Handler: func(c *fiber.Ctx) error {
				out, err := h.svc.ListDatasets(c.UserContext(), viewer(c))
				if err != nil {
					return problem(err)
				}
				return httpapi.OK(c, http.StatusOK, out)
			}},
		{Method: http.MethodGet, Path: "/datasets/:slug", Tags: []string{tag}, Summary: "Get a dataset and its public files",
			Response: competitions.Dataset{},
			Handler: func(c *fiber.Ctx) error {
				out, err := h.svc.GetDataset(c.UserContext(), viewer(c), slugParam(c))
				if err != nil {
					return problem(err)
				}
				for i := range out.Files {
					out.Files[i].URL = fileURL(out.Slug, out.Files[i].Name)
				}
				return httpapi.OK(c, http.StatusOK, out)
			}},
		{Method: http.MethodGet, Path: "/datasets/:slug/files/:name", Tags: []string{tag}, Summary: "Download a public file",
			Description: "Training files, public eval files and the sample submission only; any other name is 404.",
			Raw:         true, RawContentType: "application/octet-stream",
			Handler: h.download},
	}
}

// scoringRoutes are scorer uploads and the admins' scoring: score now, any submission, rescoring jobs.
func (h *handlers) scoringRoutes() []httpapi.Route {
	return []httpapi.Route{
		{Method: http.MethodPost, Path: "/competitions/:slug/scorers", Tags: []string{tag}, Auth: httpapi.AuthUser,
			Summary: "Upload a new scorer module (admins and the competition's owner)",
			Description: "Multipart fields `file` (.wasm), `name`, `version`. The module is validated (ABI, imports, compile, a run on the sample submission) and the report kept; " +
				"then it becomes current and every submission is rescored. 422 with the failed check otherwise." + pendingNote,
			RequestContentType: "multipart/form-data", Response: competitions.ScorerUpload{}, Status: http.StatusCreated,
			Query: []httpapi.Param{waitParam}, Also: pendingAlso,
			Handler: h.uploadScorer},
		{Method: http.MethodPost, Path: "/admin/submissions/:id/score", Tags: []string{tag, "admin"}, Auth: httpapi.AuthAdmin,
			Summary: "Score or rescore one submission now",
			Description: "Scores with the competition's current scorer and holdout; the new score becomes official atomically. The same scorer and holdout digests reuse the existing score row. " +
				"The scoring runs in a scoring worker, never in the API: the submission moves to the front of the scoring queue and the answer waits up to ?wait= seconds for it. " +
				"Not done by then: 202 {pending, submission} with Location (GET /admin/submissions/{id}, done once rescoring is false and status is scored or failed) and Retry-After. 409 busy while a worker already holds it.",
			Response: competitions.Submission{}, Query: []httpapi.Param{waitParam}, Also: scorePendingAlso,
			Handler: h.scoreNow},
		{Method: http.MethodGet, Path: "/admin/submissions/:id", Tags: []string{tag, "admin"}, Auth: httpapi.AuthAdmin,
			Summary: "A submission with its internal error and every score row", Response: competitions.AdminSubmission{},
			Handler: h.adminSubmission},
		{Method: http.MethodPost, Path: "/admin/competitions/:slug/rescore", Tags: []string{tag, "admin"}, Auth: httpapi.AuthAdmin,
			Summary:     "Rescore every submission of a competition",
			Description: "Queues every submission; read progress at GET /admin/competitions/{slug}/rescore/{job_id}.",
			Request:     RescoreRequest{}, Response: competitions.RescoreJob{}, Status: http.StatusAccepted,
			Handler: h.rescore},
		{Method: http.MethodGet, Path: "/admin/competitions/:slug/rescore", Tags: []string{tag, "admin"}, Auth: httpapi.AuthAdmin,
			Summary: "Recent rescore jobs of a competition", Response: []competitions.RescoreJob{},
			Handler: h.rescoreJobs},
		{Method: http.MethodGet, Path: "/admin/competitions/:slug/rescore/:job", Tags: []string{tag, "admin"}, Auth: httpapi.AuthAdmin,
			Summary: "Progress of a rescore job", Response: competitions.RescoreJob{},
			Handler: h.rescoreStatus},
	}
}

// scoreNow is POST /admin/submissions/{id}/score: the submission scored
// by a worker now, or 202 with its Location when that takes longer than
// ?wait=.
func (h *handlers) scoreNow(c *fiber.Ctx) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	if err := jobCtx(c); err != nil {
		return err
	}
	out, err := h.svc.ScoreNow(c.UserContext(), h.w, id)
	var pe *competitions.ScorePendingError
	if errors.As(err, &pe) {
		c.Set(fiber.HeaderLocation, httpapi.Prefix+"/admin/submissions/"+strconv.FormatInt(id, 10))
		c.Set(fiber.HeaderRetryAfter, "1")
		return httpapi.OK(c, http.StatusAccepted, ScorePending{Pending: true, Submission: pe.Submission})
	}
	if err != nil {
		return problem(err)
	}
	return httpapi.OK(c, http.StatusOK, out)
}

// adminSubmission is GET /admin/submissions/{id}: the submission with its
// internal error and every score row.
func (h *handlers) adminSubmission(c *fiber.Ctx) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	out, err := h.svc.AdminSubmission(c.UserContext(), id)
	if err != nil {
		return problem(err)
	}
	return httpapi.OK(c, http.StatusOK, out)
}

// rescore is POST /admin/competitions/{slug}/rescore: every submission
// queued for rescoring, by the signed-in admin, for the body's reason (or
// "admin request").
func (h *handlers) rescore(c *fiber.Ctx) error {
	var req RescoreRequest
	if len(c.Body()) > 0 {
		if err := httpapi.Decode(c, &req); err != nil {
			return err
		}
	}
	if req.Reason == "" {
		req.Reason = "admin request"
	}
	out, err := h.svc.RescoreCompetition(c.UserContext(), viewer(c).UserID, slugParam(c), req.Reason)
	if err != nil {
		return problem(err)
	}
	return httpapi.OK(c, http.StatusAccepted, out)
}

// rescoreJobs is GET /admin/competitions/{slug}/rescore: the recent
// rescore jobs.
func (h *handlers) rescoreJobs(c *fiber.Ctx) error {
	out, err := h.svc.RescoreJobs(c.UserContext(), slugParam(c))
	if err != nil {
		return problem(err)
	}
	return httpapi.OK(c, http.StatusOK, out)
}

// rescoreStatus is GET /admin/competitions/{slug}/rescore/{job}: one
// job's progress; 404 for a job id that is not a positive integer.
func (h *handlers) rescoreStatus(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("job"), 10, 64)
	if err != nil || id <= 0 {
		return httpapi.NotFound("rescore job")
	}
	out, err := h.svc.RescoreStatus(c.UserContext(), slugParam(c), id)
	if err != nil {
		return problem(err)
	}
	return httpapi.OK(c, http.StatusOK, out)
}

// slugParam is the {slug} path parameter.
func slugParam(c *fiber.Ctx) string { return c.Params("slug") }

// RescoreRequest is the optional body of a competition rescore.
type RescoreRequest struct {
	Reason string `json:"reason"`
}

// Validate implements httpapi.Validator.
func (r RescoreRequest) Validate() []httpapi.FieldError {
	if len(r.Reason) > 255 {
		return []httpapi.FieldError{{Field: "reason", Message: "must be at most 255 characters"}}
	}
	return nil
}

func fileURL(slug, name string) string {
	return httpapi.Prefix + "/datasets/" + slug + "/files/" + name
}

func idParam(c *fiber.Ctx) (int64, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, httpapi.NotFound("submission")
	}
	return id, nil
}

func page(c *fiber.Ctx) (offset, limit int, err error) {
	offset, limit = 0, 100
	var fields []httpapi.FieldError
	if v := c.Query("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			fields = append(fields, httpapi.FieldError{Field: "offset", Message: "must be a whole number >= 0"})
		}
	}
	if v := c.Query("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 1000 {
			fields = append(fields, httpapi.FieldError{Field: "limit", Message: "must be a whole number from 1 to 1000"})
		}
	}
	if len(fields) > 0 {
		return 0, 0, httpapi.Invalid(fields...)
	}
	return offset, limit, nil
}

// formFile reads the multipart body from the request stream: the file
// field name into memory, at most limit bytes (these uploads, scorer
// modules and authors' files, are needed whole), and the small fields
// before and after it for formValue. Nothing spills to a temporary
// folder, and a chunked body cannot run past the limit: reading stops at
// limit plus the framing slack.
func formFile(c *fiber.Ctx, name string, limit int64) (string, []byte, error) {
	body := newBodyReader(c, limit+httpapi.BodySlack)
	filename, part, err := filePart(c, body, name)
	if err != nil {
		finishUpload(c, body, true)
		return "", nil, err
	}
	data, err := io.ReadAll(io.LimitReader(part, limit+1))
	if err != nil {
		finishUpload(c, body, true)
		return "", nil, brokenUpload()
	}
	if int64(len(data)) > limit {
		finishUpload(c, body, true)
		return "", nil, httpapi.Invalid(httpapi.FieldError{Field: name, Message: fmt.Sprintf("must be at most %d bytes", limit)})
	}
	if err := restOfForm(c, body); err != nil {
		finishUpload(c, body, true)
		return "", nil, err
	}
	finishUpload(c, body, false)
	return filename, data, nil
}

// submit streams the multipart file part into the service: the body is
// read as the service writes the file to the submission store's staging
// folder, never whole into memory.
func (h *handlers) submit(c *fiber.Ctx) error {
	body := newBodyReader(c, h.svc.MaxSubmissionBytes()+httpapi.BodySlack)
	name, part, err := filePart(c, body, "file")
	if err != nil {
		finishUpload(c, body, true)
		return err
	}
	out, err := h.svc.SubmitFrom(c.UserContext(), viewer(c), c.Params("slug"), name, part)
	finishUpload(c, body, err != nil)
	if err != nil {
		return problem(err)
	}
	c.Set(fiber.HeaderLocation, httpapi.Prefix+"/submissions/"+strconv.FormatInt(out.Submission.ID, 10))
	return httpapi.OK(c, http.StatusCreated, out)
}

func (h *handlers) uploadScorer(c *fiber.Ctx) error {
	_, wasm, err := formFile(c, "file", competitions.MaxScorerBytes)
	if err != nil {
		return err
	}
	name, version := strings.TrimSpace(formValue(c, "name")), strings.TrimSpace(formValue(c, "version"))
	var fields []httpapi.FieldError
	if name == "" || len(name) > 64 {
		fields = append(fields, httpapi.FieldError{Field: "name", Message: "must be 1-64 characters"})
	}
	if version == "" || len(version) > 64 {
		fields = append(fields, httpapi.FieldError{Field: "version", Message: "must be 1-64 characters"})
	}
	if len(fields) > 0 {
		return httpapi.Invalid(fields...)
	}
	if err := jobCtx(c); err != nil {
		return err
	}
	out, err := h.svc.UploadScorer(c.UserContext(), viewer(c), c.Params("slug"), name, version, wasm)
	if ok, aerr := accepted(c, c.Params("slug"), err); ok {
		return aerr
	}
	if err != nil {
		return problem(err)
	}
	return httpapi.OK(c, http.StatusCreated, out)
}

func (h *handlers) download(c *fiber.Ctx) error {
	f, info, err := h.svc.OpenFile(c.UserContext(), viewer(c), c.Params("slug"), c.Params("name"))
	if err != nil {
		return problem(err)
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	if !strings.HasSuffix(info.Name, ".csv") {
		c.Set(fiber.HeaderContentType, "application/octet-stream")
	}
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+info.Name+`"`)
	c.Set("X-Content-SHA256", info.SHA256)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	return c.Status(http.StatusOK).SendStream(f, int(info.SizeBytes))
}

// final marks or unmarks a submission as final.
func (h *handlers) final(mark bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id, err := idParam(c)
		if err != nil {
			return err
		}
		out, err := h.svc.SetFinal(c.UserContext(), viewer(c), c.Params("slug"), id, mark)
		if err != nil {
			return problem(err)
		}
		return httpapi.OK(c, http.StatusOK, out)
	}
}

// problem maps service errors to HTTP problems; anything else stays an
// internal error (logged, never shown).
func problem(err error) error {
	var ie *competitions.InvalidError
	var ce *competitions.CapError
	var re *competitions.ScorerRejectedError
	var fl *competitions.FinalLimitError
	switch {
	case errors.Is(err, competitions.ErrNotFound):
		return httpapi.NotFound("resource")
	case errors.Is(err, competitions.ErrForbidden):
		return httpapi.Forbidden("forbidden", "only admins and the competition's owner may do this")
	case errors.Is(err, competitions.ErrNotOpen):
		return httpapi.Conflict("not_open", "the competition is not open for submissions yet")
	case errors.Is(err, competitions.ErrBadBoard):
		return httpapi.Invalid(httpapi.FieldError{Field: "board", Message: err.Error()})
	case errors.Is(err, competitions.ErrNoPrivateBoard):
		return httpapi.Conflict("no_private_board", err.Error())
	case errors.Is(err, competitions.ErrSelectionClosed):
		return httpapi.Conflict("selection_closed", err.Error())
	case errors.Is(err, competitions.ErrNotFinalizable):
		return httpapi.Conflict("not_finalizable", err.Error())
	case errors.As(err, &fl):
		return httpapi.Conflict("final_limit_reached", fl.Error())
	case errors.Is(err, competitions.ErrUploadBroken):
		return brokenUpload()
	case errors.Is(err, competitions.ErrBusy):
		return httpapi.Conflict("busy", "the submission is being scored right now; try again shortly")
	case errors.As(err, &ie):
		fields := make([]httpapi.FieldError, len(ie.Problems))
		for i, p := range ie.Problems {
			fields[i] = httpapi.FieldError{Field: "file", Message: p.String()}
		}
		return httpapi.Problem(http.StatusUnprocessableEntity, "invalid_submission",
			"the file is not a valid submission; it did not count toward your daily cap").WithFields(fields...)
	case errors.As(err, &ce):
		secs := int((ce.RetryAfter + time.Second - 1) / time.Second)
		return httpapi.Problem(http.StatusTooManyRequests, "daily_cap_reached",
			fmt.Sprintf("daily submission cap of %d reached for this competition; it resets at 00:00 UTC, in %d seconds", ce.Cap, secs)).
			WithHeader("Retry-After", strconv.Itoa(secs))
	case errors.As(err, &re):
		var fields []httpapi.FieldError
		for _, ch := range re.Report.Checks {
			if !ch.OK {
				fields = append(fields, httpapi.FieldError{Field: "file", Message: "check " + ch.Name + " failed: " + ch.Detail})
			}
		}
		return httpapi.Problem(http.StatusUnprocessableEntity, "scorer_rejected", "the scorer module failed validation").WithFields(fields...)
	}
	return err
}
