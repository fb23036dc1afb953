package web

import (
	"bytes"
	"html/template"

	"github.com/yuin/goldmark"
)

// md renders CommonMark with goldmark's safe defaults: raw HTML in the
// source is dropped (rendered as a comment), and links or images whose URL
// is dangerous (javascript:, vbscript:, file:, data: other than images) get
// an empty URL. Competition descriptions are written by authors, so this is
// the only way they reach a page as HTML.
var md = goldmark.New()

// markdown renders src for a template; a rendering failure shows the text
// escaped.
func markdown(src string) template.HTML {
	var b bytes.Buffer
	if err := md.Convert([]byte(src), &b); err != nil {
		return template.HTML(template.HTMLEscapeString(src))
	}
	return template.HTML(b.String()) //nolint:gosec // goldmark without WithUnsafe escapes raw HTML
}
