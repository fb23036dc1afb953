package httpcomp

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/medforge/medforge/httpapi"
)

// drainMax is how much of a request body an upload handler reads past the
// file part to keep the connection usable (the closing boundary, a stray
// field); a longer remainder closes the connection instead.
const drainMax = 64 << 10

// fieldMax bounds a multipart field before the file part, which is
// skipped.
const fieldMax = 64 << 10

// bodyReader is the request body as a stream: what the client sends is read
// as the handler asks for it (the server streams request bodies), at most
// limit bytes, remembering the first read error so that a broken upload is
// told from a failing store.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

func newBodyReader(c *fiber.Ctx, limit int64) *bodyReader {
	var r io.Reader = c.Context().RequestBodyStream()
	if r == nil {
		r = bytes.NewReader(c.Body())
	}
	return &bodyReader{r: io.LimitReader(r, limit)}
}

// maxFields bounds the small fields one upload form may carry.
const maxFields = 16

// localForm holds the small fields of an upload form (formValue).
const localForm = "httpcomp.form"

// filePart returns the multipart/form-data field's file part, read from the
// request body as it arrives, and the file name the client gave. The small
// fields before it (at most maxFields of fieldMax bytes) are kept for
// formValue; nothing is buffered beyond the multipart reader's window.
// After the handler consumed the part, finish the body with finishUpload.
func filePart(c *fiber.Ctx, body *bodyReader, field string) (string, io.Reader, error) {
	missing := httpapi.Invalid(httpapi.FieldError{Field: field, Message: "send the file as multipart/form-data field \"" + field + "\""})
	mt, params, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mt != fiber.MIMEMultipartForm || params["boundary"] == "" {
		return "", nil, missing
	}
	mr := multipart.NewReader(body, params["boundary"])
	c.Locals(localForm, mr)
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return "", nil, missing
		}
		if err != nil {
			return "", nil, brokenUpload()
		}
		if p.FormName() == field {
			return p.FileName(), p, nil
		}
		if err := keepField(c, p); err != nil {
			return "", nil, err
		}
	}
}

// restOfForm reads the fields after the file part (formValue).
func restOfForm(c *fiber.Ctx, body *bodyReader) error {
	mr, _ := c.Locals(localForm).(*multipart.Reader)
	if mr == nil {
		return nil
	}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return brokenUpload()
		}
		if err := keepField(c, p); err != nil {
			return err
		}
	}
}

// keepField stores a small field of the form, refusing a large one or too
// many.
func keepField(c *fiber.Ctx, p *multipart.Part) error {
	fields, _ := c.Locals(localForm + ".fields").(map[string]string)
	if fields == nil {
		fields = map[string]string{}
		c.Locals(localForm+".fields", fields)
	}
	v, err := io.ReadAll(io.LimitReader(p, fieldMax+1))
	if err != nil {
		return brokenUpload()
	}
	if len(v) > fieldMax || len(fields) >= maxFields {
		return httpapi.Invalid(httpapi.FieldError{Field: p.FormName(), Message: fmt.Sprintf("the form may carry at most %d fields of %d bytes besides the file", maxFields, fieldMax)})
	}
	if _, seen := fields[p.FormName()]; !seen {
		fields[p.FormName()] = string(v)
	}
	return nil
}

// formValue is a small field of the upload form read by formFile or
// filePart ("" when absent).
func formValue(c *fiber.Ctx, name string) string {
	fields, _ := c.Locals(localForm + ".fields").(map[string]string)
	return fields[name]
}

// finishUpload reads what is left of the body, up to drainMax, so the
// connection can carry the next request; a longer remainder, a read error
// or a failed upload (whose body may be mostly unread) closes the
// connection after the answer instead (lingering, so that the client
// reads the answer rather than a reset), and the unread bytes are never
// parsed as a request.
func finishUpload(c *fiber.Ctx, body *bodyReader, failed bool) {
	if !failed && body.err == nil {
		n, err := io.Copy(io.Discard, io.LimitReader(body, drainMax+1))
		if err == nil && n <= drainMax {
			return
		}
	}
	httpapi.CloseLingering(c)
}

func brokenUpload() error {
	return httpapi.Problem(http.StatusBadRequest, "bad_request",
		"the upload could not be read: the multipart body was cut off or is not well-formed")
}
