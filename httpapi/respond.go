package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Meta is the meta object of every success envelope. Handlers may add keys
// (for example pagination) through OKMeta.
type Meta map[string]any

// Envelope is the body of every /api/v2 success response.
type Envelope struct {
	Data any  `json:"data"`
	Meta Meta `json:"meta"`
}

func jsonMarshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// OK answers status with {data, meta{request_id}}.
func OK(c *fiber.Ctx, status int, data any) error { return OKMeta(c, status, data, nil) }

// OKMeta is OK with extra meta keys; request_id is always set by the server.
func OKMeta(c *fiber.Ctx, status int, data any, meta Meta) error {
	m := Meta{}
	for k, v := range meta {
		m[k] = v
	}
	m["request_id"] = RequestID(c)
	body, err := jsonMarshal(Envelope{Data: data, Meta: m})
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(body)
}

// OKRaw is OK for data that is already JSON (a value encoded by
// encoding/json, which callers cache): the envelope is written around the
// bytes as they are, without decoding or re-encoding them, so the body is
// byte for byte what OK would send for json.RawMessage(data).
func OKRaw(c *fiber.Ctx, status int, data []byte) error {
	id, err := jsonMarshal(RequestID(c))
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	const open, mid, end = `{"data":`, `,"meta":{"request_id":`, `}}`
	body := make([]byte, 0, len(open)+len(data)+len(mid)+len(id)+len(end))
	body = append(append(append(append(append(body, open...), data...), mid...), id...), end...)
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(body)
}

// NoContent answers 204 with no body.
func NoContent(c *fiber.Ctx) error { return c.SendStatus(http.StatusNoContent) }

// Validator is implemented by request bodies that check themselves after
// decoding; Decode turns what Validate returns into a 422.
type Validator interface {
	Validate() []FieldError
}

// Decode reads a JSON request body into v strictly: the content type must be
// JSON, unknown fields and trailing data are rejected, and type mismatches
// name the field. When v implements Validator its field errors become a
// 422 validation_failed problem. Every failure is an *Error safe to return.
func Decode(c *fiber.Ctx, v any) error {
	ct := strings.ToLower(strings.TrimSpace(strings.SplitN(c.Get(fiber.HeaderContentType), ";", 2)[0]))
	if ct != fiber.MIMEApplicationJSON {
		return Problem(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as application/json")
	}
	if err := decodeJSON(c.Body(), v); err != nil {
		return err
	}
	if val, ok := v.(Validator); ok {
		if fe := val.Validate(); len(fe) > 0 {
			return Invalid(fe...)
		}
	}
	return nil
}

// decodeJSON is Decode's strict JSON step on raw bytes. Errors are *Error with status 400.
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return Problem(http.StatusBadRequest, "invalid_json", "the request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			return Problem(http.StatusBadRequest, "invalid_json", "the request body has data after the JSON value")
		}
		return nil
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return Problem(http.StatusBadRequest, "invalid_json", fmt.Sprintf("the request body is not valid JSON (at byte %d)", se.Offset))
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return Problem(http.StatusBadRequest, "invalid_json", "the request body must be a JSON "+jsonKind(te.Type.Kind().String()))
		}
		return Problem(http.StatusBadRequest, "invalid_json", "a field has the wrong type").
			WithFields(FieldError{Field: field, Message: "must be " + jsonKind(te.Type.Kind().String())})
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Problem(http.StatusBadRequest, "invalid_json", "the request body is truncated JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return Problem(http.StatusBadRequest, "invalid_json", "the request body has an unknown field").
			WithFields(FieldError{Field: name, Message: "is not a known field"})
	default:
		return Problem(http.StatusBadRequest, "invalid_json", "the request body is not valid JSON")
	}
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "a whole number"
	case "float32", "float64":
		return "a number"
	case "slice", "array":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	}
	return "a different type"
}

// PathID parses a positive integer path parameter; a bad one is a 404 (the
// resource cannot exist), named after the parameter.
func PathID(c *fiber.Ctx, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Params(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, NotFound(name)
	}
	return id, nil
}
