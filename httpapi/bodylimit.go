package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// DefaultBodyLimit is the largest request body of every route that does not
// take a file upload (JSON, forms): 1 MiB. Upload routes (multipart/form-data)
// get Config.BodyLimit plus BodySlack instead.
const DefaultBodyLimit = 1 << 20

// limitBody bounds what one request can make the server hold before any
// handler, login or origin check runs. The server streams request bodies
// (fasthttp's StreamRequestBody), so only a few KiB are read before the
// handler asks for more; this middleware then refuses, before reading
// further:
//   - a Content-Encoding other than identity (a compressed body would be
//     inflated without bound), 415;
//   - a Content-Length above the route's limit, 413 at once;
//   - a chunked body that runs past the limit, 413 (it is read through a
//     limit into memory here, so a handler's c.Body() is bounded too).
//
// Multipart bodies, the only ones upload routes accept, are parsed by the
// handler from the stream; their files spill to temporary files past 8 KiB.
func (s *Server) limitBody(c *fiber.Ctx) error {
	req := c.Request()
	if ce := strings.TrimSpace(string(req.Header.Peek(fiber.HeaderContentEncoding))); ce != "" && !strings.EqualFold(ce, "identity") {
		return Problem(http.StatusUnsupportedMediaType, "unsupported_media_type", "request bodies must not be compressed (Content-Encoding "+strconv.Quote(ce)+")")
	}
	limit := DefaultBodyLimit
	if bytes.HasPrefix(bytes.ToLower(req.Header.ContentType()), []byte(fiber.MIMEMultipartForm)) {
		limit = s.cfg.BodyLimit + BodySlack
	}
	tooLarge := func() error {
		return Problem(http.StatusRequestEntityTooLarge, "body_too_large",
			"the request body is larger than "+strconv.Itoa(limit)+" bytes")
	}
	switch n := req.Header.ContentLength(); {
	case n > limit:
		return tooLarge()
	case n == -1 && limit == DefaultBodyLimit: // chunked
		if stream := c.Context().RequestBodyStream(); stream != nil {
			b, err := io.ReadAll(io.LimitReader(stream, int64(limit)+1))
			if err != nil {
				return Problem(http.StatusBadRequest, "bad_request", "the request body could not be read")
			}
			if len(b) > limit {
				return tooLarge()
			}
			req.SetBody(b)
		}
	}
	return c.Next()
}
