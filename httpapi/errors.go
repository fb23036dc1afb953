package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/medforge/medforge/identity"
	"github.com/medforge/medforge/store"
)

// ProblemTypeBase prefixes a problem's code to form its "type" URI.
const ProblemTypeBase = "https://medforge.dev/problems/"

// FieldError is one invalid request field, reported in a problem's errors[].
// Field is the JSON name (dotted for nested fields, e.g. "limits.gpu").
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is an HTTP error a handler returns: it becomes a problem+json
// response with its Status, Code and Detail, which must be safe to show to
// the client. Cause, when set, is logged with the request id but never sent.
type Error struct {
	Status int
	Code   string
	Detail string
	Fields []FieldError
	// Header is added to the response (for example Retry-After).
	Header map[string]string
	Cause  error
}

func (e *Error) Error() string {
	s := strconv.Itoa(e.Status) + " " + e.Code + ": " + e.Detail
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Cause }

// Problem returns an error answered with status, a machine-readable code
// (snake_case, stable) and a human-readable detail safe to show to clients.
func Problem(status int, code, detail string) *Error {
	return &Error{Status: status, Code: code, Detail: detail}
}

// WithFields attaches field errors to e.
func (e *Error) WithFields(fields ...FieldError) *Error {
	e.Fields = append(e.Fields, fields...)
	return e
}

// WithCause records the internal error behind e; it is logged, never sent.
func (e *Error) WithCause(err error) *Error {
	e.Cause = err
	return e
}

// WithHeader adds a response header to e.
func (e *Error) WithHeader(k, v string) *Error {
	if e.Header == nil {
		e.Header = map[string]string{}
	}
	e.Header[k] = v
	return e
}

// Invalid is a 422 validation_failed problem listing the bad fields.
func Invalid(fields ...FieldError) *Error {
	return Problem(http.StatusUnprocessableEntity, "validation_failed", "the request has invalid fields").WithFields(fields...)
}

// NotFound is a 404 for what; use it for missing and not-yours alike so
// that existence is not revealed.
func NotFound(what string) *Error {
	return Problem(http.StatusNotFound, "not_found", what+" not found")
}

// Unauthenticated is the 401 for a request without valid credentials.
func Unauthenticated() *Error {
	return Problem(http.StatusUnauthorized, "unauthenticated", "sign in or send a valid API token")
}

// Forbidden is a 403 with a code and a detail.
func Forbidden(code, detail string) *Error { return Problem(http.StatusForbidden, code, detail) }

// Unavailable is 503 `unavailable` with Retry-After: a dependency (the
// database) cannot be reached for a moment. Clients retry; it is never a 500.
func Unavailable() *Error {
	return Problem(http.StatusServiceUnavailable, "unavailable", "the service is briefly unavailable; try again in a few seconds").
		WithHeader("Retry-After", "2")
}

// Conflict is a 409 with a code and a detail.
func Conflict(code, detail string) *Error { return Problem(http.StatusConflict, code, detail) }

// problemBody is the application/problem+json document (RFC 9457).
type problemBody struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail"`
	Code      string       `json:"code"`
	RequestID string       `json:"request_id"`
	Errors    []FieldError `json:"errors,omitempty"`
}

var fiberCodes = map[int]string{
	http.StatusBadRequest:            "bad_request",
	http.StatusUnauthorized:          "unauthenticated",
	http.StatusForbidden:             "forbidden",
	http.StatusNotFound:              "not_found",
	http.StatusMethodNotAllowed:      "method_not_allowed",
	http.StatusRequestTimeout:        "request_timeout",
	http.StatusConflict:              "conflict",
	http.StatusRequestEntityTooLarge: "body_too_large",
	http.StatusUnsupportedMediaType:  "unsupported_media_type",
	http.StatusUnprocessableEntity:   "validation_failed",
	http.StatusTooManyRequests:       "too_many_requests",
	http.StatusServiceUnavailable:    "unavailable",
}

// toProblem classifies any handler error. Only *Error details and the fixed
// texts below ever reach the client.
func toProblem(err error) *Error {
	var pe *Error
	var fe *fiber.Error
	var ve *identity.ValidationError
	var te *identity.ThrottledError
	switch {
	case errors.As(err, &pe):
		return pe
	case store.IsUnavailable(err):
		return Unavailable().WithCause(err)
	case errors.As(err, &ve):
		fields := make([]FieldError, len(ve.Fields))
		for i, f := range ve.Fields {
			fields[i] = FieldError{Field: f.Field, Message: f.Message}
		}
		return Invalid(fields...)
	case errors.As(err, &te):
		secs := int((te.RetryAfter + time.Second - 1) / time.Second)
		return Problem(http.StatusTooManyRequests, "too_many_attempts", "too many attempts; retry after "+strconv.Itoa(secs)+" seconds").
			WithHeader("Retry-After", strconv.Itoa(secs))
	case errors.Is(err, identity.ErrUnauthenticated):
		return Unauthenticated()
	case errors.Is(err, identity.ErrInvalidCredentials):
		return Problem(http.StatusUnauthorized, "invalid_credentials", "email or password is incorrect")
	case errors.Is(err, identity.ErrNotFound), store.IsNotFound(err):
		return Problem(http.StatusNotFound, "not_found", "not found").WithCause(err)
	case errors.As(err, &fe):
		code, ok := fiberCodes[fe.Code]
		if !ok || fe.Code >= 500 {
			return Problem(http.StatusInternalServerError, "internal", "internal error").WithCause(err)
		}
		detail := strings.ToLower(http.StatusText(fe.Code))
		if fe.Code == http.StatusNotFound {
			detail = "no such endpoint"
		}
		return Problem(fe.Code, code, detail)
	case errors.Is(err, context.DeadlineExceeded):
		return Problem(http.StatusServiceUnavailable, "timeout", "the request took too long; try again").WithCause(err)
	case errors.Is(err, context.Canceled):
		return Problem(499, "canceled", "the request was canceled").WithCause(err)
	default:
		return Problem(http.StatusInternalServerError, "internal", "internal error").WithCause(err)
	}
}

func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	p := toProblem(err)
	rid := RequestID(c)
	if rid == "" {
		// Refused by the HTTP layer before any middleware ran (for example
		// a body over the limit): still give it an id, a log line and a count.
		rid = newRequestID()
		c.Locals(localRequestID, rid)
		c.Set(HeaderRequestID, rid)
		defer func() {
			s.metrics.observe(c.Method(), "unmatched", p.Status, 0)
			s.log.InfoContext(c.UserContext(), "http request", "request_id", rid, "method", c.Method(),
				"path", c.Path(), "route", "unmatched", "status", p.Status, "ip", s.ClientIP(c))
		}()
	}
	if p.Cause != nil || p.Status >= 500 {
		lvl := s.log.ErrorContext
		if p.Status < 500 {
			lvl = s.log.DebugContext
		}
		lvl(c.UserContext(), "request failed", "request_id", rid, "status", p.Status, "code", p.Code, "err", err.Error())
	}
	for k, v := range p.Header {
		c.Set(k, v)
	}
	title := http.StatusText(p.Status)
	if title == "" {
		title = "Error"
	}
	c.Status(p.Status)
	c.Set(fiber.HeaderContentType, "application/problem+json")
	body, jerr := jsonMarshal(problemBody{
		Type: ProblemTypeBase + p.Code, Title: title, Status: p.Status, Detail: p.Detail,
		Code: p.Code, RequestID: rid, Errors: p.Fields,
	})
	if jerr != nil {
		return c.SendString(`{"type":"` + ProblemTypeBase + `internal","title":"Internal Server Error","status":500,"detail":"internal error","code":"internal","request_id":"` + rid + `"}`)
	}
	return c.Send(body)
}
