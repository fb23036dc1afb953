package httpcomp

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/httpapi"
)

const authorTag = "authoring"

// authorRoutes are /author/competitions...: self-service authoring for
// users with can_author (and admins). A caller who is neither gets 403 on
// every route; a competition the caller does not own is 404, so drafts
// stay secret. No route answers with holdout content: holdouts go in, and
// only their digest, version and row count come out.
func (h *handlers) authorRoutes() []httpapi.Route {
	var out []httpapi.Route
	for _, g := range [][]httpapi.Route{h.draftRoutes(), h.authorUploadRoutes(), h.publishRoutes()} {
		out = append(out, g...)
	}
	return out
}

// draftRoutes are an author's drafts: create, list, read and change them.
func (h *handlers) draftRoutes() []httpapi.Route {
	return []httpapi.Route{
		{Method: http.MethodPost, Path: authorBase, Tags: []string{authorTag}, Auth: httpapi.AuthUser, Status: http.StatusCreated,
			Summary:     "Create a draft competition",
			Description: "Needs can_author (INTERNAL needs an admin). The draft is invisible to everyone but its owner and admins until published. A metric naming a built-in module (accuracy, top1, map-iou, roc-auc) makes it the scorer.",
			Request:     competitions.Draft{}, Response: competitions.AuthorCompetition{},
			Handler: func(c *fiber.Ctx) error {
				var d competitions.Draft
				if err := httpapi.Decode(c, &d); err != nil {
					return err
				}
				out, err := h.svc.CreateDraft(c.UserContext(), viewer(c), d)
				if err != nil {
					return authorProblem(err)
				}
				c.Set(fiber.HeaderLocation, httpapi.Prefix+authorBase+"/"+out.Slug)
				return httpapi.OK(c, http.StatusCreated, out)
			}},
		{Method: http.MethodGet, Path: authorBase, Tags: []string{authorTag}, Auth: httpapi.AuthUser,
			Summary: "List my competitions (drafts included)", Response: []competitions.AuthorCompetition{},
			Handler: func(c *fiber.Ctx) error {
				out, err := h.svc.MyCompetitions(c.UserContext(), viewer(c))
				if err != nil {
					return authorProblem(err)
				}
				return httpapi.OK(c, http.StatusOK, out)
			}},
		{Method: http.MethodGet, Path: authorBase + "/:slug", Tags: []string{authorTag}, Auth: httpapi.AuthUser,
			Summary: "One of my competitions, as its owner sees it", Response: competitions.AuthorCompetition{},
			Handler: func(c *fiber.Ctx) error {
				out, err := h.svc.AuthorCompetition(c.UserContext(), viewer(c), slugParam(c))
				if err != nil {
					return authorProblem(err)
				}
				return httpapi.OK(c, http.StatusOK, out)
			}},
		{Method: http.MethodPatch, Path: authorBase + "/:slug", Tags: []string{authorTag}, Auth: httpapi.AuthUser,
			Summary:     "Update a competition",
			Description: "Absent fields stay. The submission spec (id_column, columns, layout) changes only on drafts and drops the holdout.",
			Request:     competitions.DraftPatch{}, Response: competitions.AuthorCompetition{},
			Handler: func(c *fiber.Ctx) error {
				var p competitions.DraftPatch
				if err := httpapi.Decode(c, &p); err != nil {
					return err
				}
				out, err := h.svc.UpdateDraft(c.UserContext(), viewer(c), slugParam(c), p)
				if err != nil {
					return authorProblem(err)
				}
				return httpapi.OK(c, http.StatusOK, out)
			}},
	}
}

// authorUploadRoutes are a draft's uploads: public files, the holdout and the scorer module.
func (h *handlers) authorUploadRoutes() []httpapi.Route {
	return []httpapi.Route{
		{Method: http.MethodPost, Path: authorBase + "/:slug/files", Tags: []string{authorTag}, Auth: httpapi.AuthUser, Status: http.StatusCreated,
			Summary:            "Upload a public file",
			Description:        "Multipart fields `file`, `kind` (training, public_eval or sample_submission) and optional `name` (default: the file's name). A file of the same name is replaced; a sample submission must fit the holdout.",
			RequestContentType: "multipart/form-data", Response: competitions.DatasetFile{},
			Handler: func(c *fiber.Ctx) error {
				fname, data, err := formFile(c, "file", competitions.MaxPublicFileBytes)
				if err != nil {
					return err
				}
				name := strings.TrimSpace(formValue(c, "name"))
				if name == "" {
					name = fname
				}
				out, err := h.svc.UploadFile(c.UserContext(), viewer(c), slugParam(c), strings.TrimSpace(formValue(c, "kind")), name, data)
				if err != nil {
					return authorProblem(err)
				}
				out.URL = fileURL(slugParam(c), out.Name)
				return httpapi.OK(c, http.StatusCreated, out)
			}},
		{Method: http.MethodPost, Path: authorBase + "/:slug/holdout", Tags: []string{authorTag}, Auth: httpapi.AuthUser, Status: http.StatusCreated,
			Summary:            "Upload the hidden holdout (CSV)",
			Description:        "Multipart field `file`: a CSV with the id column and the truth columns (or an Arrow IPC file). Stored as Arrow; the answer has its digest, version and row count. It is never served back, not even to its author. On a published competition the new holdout is certified first, then every submission is rescored; GET .../rescore/{job} says whose rank moved." + pendingNote,
			RequestContentType: "multipart/form-data", Response: competitions.HoldoutInfo{}, Query: []httpapi.Param{waitParam}, Also: pendingAlso,
			Handler: func(c *fiber.Ctx) error {
				_, data, err := formFile(c, "file", competitions.MaxHoldoutBytes)
				if err != nil {
					return err
				}
				if err := jobCtx(c); err != nil {
					return err
				}
				out, err := h.svc.UploadHoldout(c.UserContext(), viewer(c), slugParam(c), data)
				if ok, aerr := accepted(c, slugParam(c), err); ok {
					return aerr
				}
				if err != nil {
					return authorProblem(err)
				}
				return httpapi.OK(c, http.StatusCreated, out)
			}},
		{Method: http.MethodPost, Path: authorBase + "/:slug/scorer", Tags: []string{authorTag}, Auth: httpapi.AuthUser, Status: http.StatusCreated,
			Summary:            "Upload a scorer module (.wasm built with the SDK)",
			Description:        "Multipart fields `file`, and optional `name` and `version`. On a draft it becomes current at once (the report judges it); on a published competition it is certified first, then every submission is rescored." + pendingNote,
			RequestContentType: "multipart/form-data", Response: competitions.ScorerInfo{}, Query: []httpapi.Param{waitParam}, Also: pendingAlso,
			Handler: func(c *fiber.Ctx) error {
				fname, wasm, err := formFile(c, "file", competitions.MaxScorerBytes)
				if err != nil {
					return err
				}
				name, version := strings.TrimSpace(formValue(c, "name")), strings.TrimSpace(formValue(c, "version"))
				if name == "" {
					name = strings.TrimSuffix(fname, ".wasm")
				}
				if version == "" {
					version = "1"
				}
				if len(name) > 64 || len(version) > 64 {
					return httpapi.Invalid(httpapi.FieldError{Field: "name", Message: "name and version must be at most 64 characters"})
				}
				if err := jobCtx(c); err != nil {
					return err
				}
				out, err := h.svc.UploadAuthorScorer(c.UserContext(), viewer(c), slugParam(c), name, version, wasm)
				if ok, aerr := accepted(c, slugParam(c), err); ok {
					return aerr
				}
				if err != nil {
					return authorProblem(err)
				}
				return httpapi.OK(c, http.StatusCreated, out)
			}},
	}
}

// publishRoutes are certification and publishing, then the owner's view of submissions and rescoring jobs.
func (h *handlers) publishRoutes() []httpapi.Route {
	return []httpapi.Route{
		{Method: http.MethodGet, Path: authorBase + "/:slug/report", Tags: []string{authorTag}, Auth: httpapi.AuthUser,
			Summary:     "The certification report of the current scorer, holdout and sample submission",
			Description: "Computed on the first request for this combination (seconds; longer for large holdouts) and kept. ok is true when every check passed; publishing needs that." + pendingNote,
			Response:    competitions.CertificationReport{}, Query: []httpapi.Param{waitParam}, Also: pendingAlso,
			Handler: func(c *fiber.Ctx) error {
				if err := jobCtx(c); err != nil {
					return err
				}
				out, err := h.svc.Report(c.UserContext(), viewer(c), slugParam(c))
				if ok, aerr := accepted(c, slugParam(c), err); ok {
					return aerr
				}
				if err != nil {
					return authorProblem(err)
				}
				return httpapi.OK(c, http.StatusOK, out)
			}},
		{Method: http.MethodPost, Path: authorBase + "/:slug/publish", Tags: []string{authorTag}, Auth: httpapi.AuthUser,
			Summary:     "Publish a draft",
			Description: "Refused (409 not_certified, naming each failed check) unless the certification report passes. Publishing makes the competition visible and opens submissions." + pendingNote,
			Response:    competitions.AuthorCompetition{}, Query: []httpapi.Param{waitParam}, Also: pendingAlso,
			Handler: func(c *fiber.Ctx) error {
				if err := jobCtx(c); err != nil {
					return err
				}
				out, err := h.svc.Publish(c.UserContext(), viewer(c), slugParam(c))
				if ok, aerr := accepted(c, slugParam(c), err); ok {
					return aerr
				}
				if err != nil {
					return authorProblem(err)
				}
				return httpapi.OK(c, http.StatusOK, out)
			}},
		{Method: http.MethodGet, Path: authorBase + "/:slug/submissions", Tags: []string{authorTag}, Auth: httpapi.AuthUser,
			Summary:     "Every submission to my competition",
			Description: "Newest first: who, status, score, the participant's error and the scorer's internal error.",
			Response:    []competitions.OwnerSubmission{},
			Query: []httpapi.Param{{Name: "before_id", Type: "integer", Description: "only submissions with a smaller id (paging)"},
				{Name: "limit", Type: "integer", Description: "1-500 (default 100)"}},
			Handler: func(c *fiber.Ctx) error {
				before, err1 := strconv.ParseInt(c.Query("before_id", "0"), 10, 64)
				limit, err2 := strconv.Atoi(c.Query("limit", "100"))
				if err1 != nil || before < 0 || err2 != nil || limit < 1 || limit > 500 {
					return httpapi.Invalid(httpapi.FieldError{Field: "limit", Message: "before_id must be a whole number >= 0 and limit one from 1 to 500"})
				}
				out, err := h.svc.OwnerSubmissions(c.UserContext(), viewer(c), slugParam(c), before, limit)
				if err != nil {
					return authorProblem(err)
				}
				return httpapi.OK(c, http.StatusOK, out)
			}},
		{Method: http.MethodGet, Path: authorBase + "/:slug/rescore/:job", Tags: []string{authorTag}, Auth: httpapi.AuthUser,
			Summary: "Progress of a rescoring, and once finished whose rank moved", Response: competitions.AuthorRescore{},
			Handler: func(c *fiber.Ctx) error {
				id, err := strconv.ParseInt(c.Params("job"), 10, 64)
				if err != nil || id <= 0 {
					return httpapi.NotFound("rescore job")
				}
				out, err := h.svc.RescoreMoves(c.UserContext(), viewer(c), slugParam(c), id)
				if err != nil {
					return authorProblem(err)
				}
				return httpapi.OK(c, http.StatusOK, out)
			}},
	}
}

// authorBase is the prefix of the authors' routes (under /api/v2).
const authorBase = "/author/competitions"

// authorProblem maps authoring errors, then falls back to problem.
func authorProblem(err error) error {
	var ve *competitions.ValidationError
	var nc *competitions.NotCertifiedError
	var ie *competitions.InvalidError
	switch {
	case errors.Is(err, competitions.ErrForbidden):
		detail := "authoring needs the can_author entitlement; ask an admin"
		if msg := err.Error(); strings.Contains(msg, ": ") {
			detail = msg[strings.Index(msg, ": ")+2:]
		}
		return httpapi.Forbidden("not_author", detail)
	case errors.Is(err, competitions.ErrConflict):
		return httpapi.Conflict("slug_taken", "a competition or dataset with this slug exists").
			WithFields(httpapi.FieldError{Field: "slug", Message: "is taken"})
	case errors.As(err, &ve):
		fields := make([]httpapi.FieldError, len(ve.Fields))
		for i, f := range ve.Fields {
			fields[i] = httpapi.FieldError{Field: f.Field, Message: f.Message}
		}
		return httpapi.Invalid(fields...)
	case errors.As(err, &nc):
		var fields []httpapi.FieldError
		for _, ch := range nc.Report.Checks {
			if !ch.OK {
				fields = append(fields, httpapi.FieldError{Field: "check " + ch.Name, Message: ch.Detail})
			}
		}
		return httpapi.Conflict("not_certified", "the certification report has failed checks: "+strings.Join(nc.Report.Failed(), ", ")).WithFields(fields...)
	case errors.As(err, &ie):
		fields := make([]httpapi.FieldError, len(ie.Problems))
		for i, p := range ie.Problems {
			fields[i] = httpapi.FieldError{Field: "file", Message: p.String()}
		}
		return httpapi.Problem(http.StatusUnprocessableEntity, "invalid_file", "the file does not fit the competition's submission spec").WithFields(fields...)
	}
	return problem(err)
}
