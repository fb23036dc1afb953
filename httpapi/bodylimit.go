package httpapi

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

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
	// A refusal leaves the body unread on the wire: close the connection
	// after the answer, or its bytes would be parsed as the next request.
	refuse := func(p *Error) error {
		c.Context().SetConnectionClose()
		return p
	}
	if ce := strings.TrimSpace(string(req.Header.Peek(fiber.HeaderContentEncoding))); ce != "" && !strings.EqualFold(ce, "identity") {
		return refuse(Problem(http.StatusUnsupportedMediaType, "unsupported_media_type", "request bodies must not be compressed (Content-Encoding "+strconv.Quote(ce)+")"))
	}
	limit := DefaultBodyLimit
	if bytes.HasPrefix(bytes.ToLower(req.Header.ContentType()), []byte(fiber.MIMEMultipartForm)) {
		limit = s.cfg.BodyLimit + BodySlack
	}
	tooLarge := func() error {
		return refuse(Problem(http.StatusRequestEntityTooLarge, "body_too_large",
			"the request body is larger than "+strconv.Itoa(limit)+" bytes"))
	}
	switch n := req.Header.ContentLength(); {
	case n > limit:
		return tooLarge()
	case n == -1 && limit == DefaultBodyLimit: // chunked
		if stream := c.Context().RequestBodyStream(); stream != nil {
			b, err := io.ReadAll(io.LimitReader(stream, int64(limit)+1))
			if err != nil {
				return refuse(Problem(http.StatusBadRequest, "bad_request", "the request body could not be read"))
			}
			if len(b) > limit {
				return tooLarge()
			}
			req.SetBody(b)
		}
	}
	return c.Next()
}

// Lingering bounds what CloseLingering reads and how long it waits.
const (
	lingerTime  = 2 * time.Second
	lingerBytes = 64 << 20
)

// CloseLingering ends the connection after the answer to a request whose
// body is left unread (a refused upload), much as Go's net/http does: the
// answer says "Connection: close", and once it is written the server reads
// and discards what the client is still sending for up to 2 s (at most
// 64 MiB), then closes.
// Closing at once with unread bytes in the socket makes the kernel answer
// the client's next bytes with a reset, which can destroy the answer
// before the client reads it; the client would see "connection reset"
// instead of the 413, 422 or 429 that explains the refusal. Without
// "Connection: close" a keep-alive client or proxy (Caddy's upstream pool)
// would send its next request on this connection, where the linger would
// swallow it: the client would get EOF, Caddy a 502.
func CloseLingering(c *fiber.Ctx) {
	fc := c.Context()
	// fasthttp closes at once, without calling the hijack handler, when
	// the answer it writes says "Connection: close"; so this handler writes
	// the answer itself, after the route and the error handler have made it.
	fc.HijackSetNoResponse(true)
	fc.Hijack(func(conn net.Conn) {
		fc.Response.SetConnectionClose()
		w := bufio.NewWriter(conn)
		if err := fc.Response.Write(w); err != nil || w.Flush() != nil {
			return
		}
		conn.SetReadDeadline(time.Now().Add(lingerTime))
		io.Copy(io.Discard, io.LimitReader(conn, lingerBytes))
	})
}
