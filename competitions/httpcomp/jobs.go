package httpcomp

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/httpapi"
)

// Sandbox jobs over HTTP. A route whose work runs an uploaded module (a
// scorer upload, a certification report, a publish or a new holdout that
// needs one) waits for the scoring worker up to ?wait= seconds (default
// the server's, 20 s); when the job is still queued or running it answers
// 202 with a Pending body, a Location naming the job and Retry-After. The
// client polls the job and then sends the same request again, which is
// answered from the job's result.

// Pending is the 202 body of a request whose sandbox job is not done yet.
type Pending struct {
	Pending bool                    `json:"pending"`
	Job     competitions.SandboxJob `json:"job"`
}

// ScorePending is the 202 body of an admin's score now that a scoring
// worker has not finished within ?wait=.
type ScorePending struct {
	Pending    bool                    `json:"pending"`
	Submission competitions.Submission `json:"submission"`
}

// scorePendingAlso documents that 202 answer.
var scorePendingAlso = []httpapi.AltResponse{{Status: http.StatusAccepted,
	Description: "Queued at the front of the scoring queue, not done yet: poll Location (GET /admin/submissions/{id}) until rescoring is false and status is scored or failed", Response: ScorePending{}}}

// maxJobWait bounds ?wait=.
const maxJobWait = 60 * time.Second

// waitParam documents ?wait= on the routes that may answer 202.
var waitParam = httpapi.Param{Name: "wait", Type: "integer",
	Description: "seconds to wait for the scoring worker's sandbox job (0-60; default the server's, 20); still running after that: 202 with the job to poll"}

// pendingAlso documents the 202 answer on those routes.
var pendingAlso = []httpapi.AltResponse{{Status: http.StatusAccepted,
	Description: "The module's sandbox job is still queued or running in a scoring worker: poll Location, then send the request again", Response: Pending{}}}

// pendingNote is appended to those routes' descriptions.
const pendingNote = " The module runs in a scoring worker, never in the API: if its sandbox job is not done within ?wait= seconds the answer is 202 {pending, job} with Location (GET .../jobs/{job}) and Retry-After; send the same request again once the job is done."

// jobCtx applies ?wait= to the request's context.
func jobCtx(c *fiber.Ctx) error {
	if q := c.Query("wait"); q != "" {
		secs, err := strconv.Atoi(q)
		if err != nil || secs < 0 || time.Duration(secs)*time.Second > maxJobWait {
			return httpapi.Invalid(httpapi.FieldError{Field: "wait", Message: "must be a whole number of seconds from 0 to 60"})
		}
		c.SetUserContext(competitions.JobWait(c.UserContext(), time.Duration(secs)*time.Second))
	}
	return nil
}

// accepted answers 202 when err is a *competitions.PendingError.
func accepted(c *fiber.Ctx, slug string, err error) (bool, error) {
	var pe *competitions.PendingError
	if !errors.As(err, &pe) {
		return false, nil
	}
	c.Set(fiber.HeaderLocation, httpapi.Prefix+"/author/competitions/"+slug+"/jobs/"+strconv.FormatInt(pe.Job.ID, 10))
	c.Set(fiber.HeaderRetryAfter, "1")
	return true, httpapi.OK(c, http.StatusAccepted, Pending{Pending: true, Job: pe.Job})
}

// jobRoutes are the sandbox job's status route.
func (h *handlers) jobRoutes() []httpapi.Route {
	return []httpapi.Route{
		{Method: http.MethodGet, Path: "/author/competitions/:slug/jobs/:job", Tags: []string{authorTag}, Auth: httpapi.AuthUser,
			Summary:     "A sandbox job: scorer validation or a certification report run by a scoring worker",
			Description: "Owners of the competition and admins. status is queued, running, done or failed; once done, send the request that answered 202 again.",
			Response:    competitions.SandboxJob{},
			Handler: func(c *fiber.Ctx) error {
				id, err := strconv.ParseInt(c.Params("job"), 10, 64)
				if err != nil || id <= 0 {
					return httpapi.NotFound("sandbox job")
				}
				out, err := h.svc.SandboxJobOf(c.UserContext(), viewer(c), c.Params("slug"), id)
				if err != nil {
					return authorProblem(err)
				}
				return httpapi.OK(c, http.StatusOK, out)
			}},
	}
}
