package config

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the settings table in docs/configuration.md")

// TestUpdateDoc regenerates the table between the markers with -update.
func TestUpdateDoc(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate docs/configuration.md's table")
	}
	const begin, end = "<!-- settings:begin -->", "<!-- settings:end -->"
	b, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatal("markers missing")
	}
	var sb strings.Builder
	sb.WriteString(begin + "\n| Variable | Flag | Default | Meaning |\n| --- | --- | --- | --- |\n")
	for _, s := range Settings {
		fl, def := "", "(empty)"
		if s.Flag != "" {
			fl = "`--" + s.Flag + "`"
		}
		if s.Default != "" {
			def = "`" + s.Default + "`"
		}
		fmt.Fprintf(&sb, "| `%s` | %s | %s | %s |\n", s.Env, fl, def, strings.ReplaceAll(s.Doc, "|", "\\|"))
	}
	doc = doc[:i] + sb.String() + doc[j:]
	if err := os.WriteFile("../docs/configuration.md", []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
}
