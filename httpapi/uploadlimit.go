package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/medforge/medforge/identity"
)

// uploadLimits are the upload rate limits: at most UploadsPerUser upload
// requests per user and UploadsPerIP per client IP (IPv6 by /64) in any
// UploadWindow, whatever their outcome. An invalid file never uses the
// daily cap, so these are what bound a crowd of them. In-memory and per
// process, like the login throttle; a nil limiter is no limit.
type uploadLimits struct {
	user, ip *identity.Limiter
}

func newUploadLimits(perUser, perIP int, window time.Duration) uploadLimits {
	var l uploadLimits
	if perUser > 0 {
		l.user = identity.NewLimiter(perUser, window, nil)
	}
	if perIP > 0 {
		l.ip = identity.NewLimiter(perIP, window, nil)
	}
	return l
}

// isUpload: the routes that take a file (multipart/form-data) are the
// upload routes.
func (r Route) isUpload() bool {
	return r.RequestContentType == fiber.MIMEMultipartForm
}

// limitUpload counts one upload request of the caller against the client
// IP's and the user's limits before any of its body is read, and refuses
// it with 429 rate_limited and Retry-After when either is used up. A
// refusal counts against neither (the IP's count is returned when the
// user's refuses), and the connection is closed after the answer
// (CloseLingering), since the body stays unread. Counting happens under one lock per limit, so N
// concurrent uploads never pass a limit below N.
func (s *Server) limitUpload(c *fiber.Ctx) error {
	refuse := func(wait time.Duration) error {
		CloseLingering(c)
		secs := int((wait + time.Second - 1) / time.Second)
		return Problem(http.StatusTooManyRequests, "rate_limited",
			"too many uploads; try again in "+strconv.Itoa(secs)+" seconds").WithHeader("Retry-After", strconv.Itoa(secs))
	}
	var ipRes identity.Reservation
	if l := s.uploads.ip; l != nil {
		r, wait, ok := l.Reserve(identity.ThrottleKey(s.ClientIP(c)))
		if !ok {
			return refuse(wait)
		}
		ipRes = r
	}
	if l, u := s.uploads.user, CurrentUser(c); l != nil && u != nil {
		if _, wait, ok := l.Reserve("user:" + strconv.FormatInt(u.ID, 10)); !ok {
			ipRes.Cancel()
			return refuse(wait)
		}
	}
	return nil
}
