package web

import (
	"regexp"
	"strings"
	"testing"
)

// Author-written descriptions are Markdown rendered safely: formatting
// works, and no script, handler or dangerous link reaches the page.
func TestMarkdownIsSafe(t *testing.T) {
	for _, tc := range []struct {
		in        string
		want      []string
		forbidden []string
	}{
		{"**Real data.** See [UCI](https://archive.ics.uci.edu/).", []string{"<strong>Real data.</strong>", `<a href="https://archive.ics.uci.edu/">UCI</a>`}, nil},
		{"<script>alert(1)</script>", nil, []string{"<script"}},
		{`<img src=x onerror="alert(1)">`, nil, []string{"<img", "onerror"}},
		{"[click](javascript:alert(1))", []string{">click</a>"}, []string{"javascript:"}},
		{"[x](vbscript:msgbox)", nil, []string{"vbscript:"}},
		{"![i](data:text/html;base64,PHNjcmlwdD4=)", nil, []string{"data:text/html"}},
		{"`<b>` and <b>bold</b>", []string{"<code>&lt;b&gt;</code>"}, []string{"<b>bold"}},
		{"- a\n- b", []string{"<li>a</li>"}, nil},
	} {
		got := string(markdown(tc.in))
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%q: %q lacks %q", tc.in, got, w)
			}
		}
		for _, f := range tc.forbidden {
			if strings.Contains(got, f) {
				t.Errorf("%q: %q contains %q", tc.in, got, f)
			}
		}
	}
}

// handlerAttr is an event-handler attribute inside a tag.
var handlerAttr = regexp.MustCompile(`<[a-z][^>]*\son[a-z]+\s*=`)

func FuzzMarkdownNeverEmitsScript(f *testing.F) {
	f.Add("<script>x</script>")
	f.Add("[a](javascript:x)")
	f.Fuzz(func(t *testing.T, s string) {
		out := strings.ToLower(string(markdown(s)))
		if strings.Contains(out, "<script") || strings.Contains(out, "href=\"javascript:") || handlerAttr.MatchString(out) {
			t.Fatalf("unsafe output for %q: %q", s, out)
		}
	})
}
