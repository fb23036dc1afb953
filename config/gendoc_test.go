package config

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the settings table in docs/configuration.md")

const docPath = "../docs/configuration.md"

// docTable renders Settings as the markdown table of docs/configuration.md.
func docTable() string {
	var sb strings.Builder
	sb.WriteString("| Variable | Flag | Default | Meaning |\n| --- | --- | --- | --- |\n")
	for _, s := range Settings {
		env, fl, def := "`"+s.Env+"`", "", "(empty)"
		if s.Alias != "" {
			env += " (or `" + s.Alias + "`)"
		}
		if s.Flag != "" {
			fl = "`--" + s.Flag + "`"
		}
		if s.Default != "" {
			def = "`" + s.Default + "`"
		}
		fmt.Fprintf(&sb, "| %s | %s | %s | %s |\n", env, fl, def, strings.ReplaceAll(s.Doc, "|", "\\|"))
	}
	return sb.String()
}

// TestConfigurationDoc: the table in docs/configuration.md is generated from
// Settings, so a setting added, removed or changed without regenerating it
// (go test ./config -run TestConfigurationDoc -update) fails here.
func TestConfigurationDoc(t *testing.T) {
	const begin, end = "<!-- settings:begin -->\n", "<!-- settings:end -->"
	b, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the %q and %q markers", docPath, begin, end)
	}
	want := docTable()
	if doc[i+len(begin):j] == want {
		return
	}
	if !*update {
		t.Fatalf("%s is stale: run go test ./config -run TestConfigurationDoc -update", docPath)
	}
	doc = doc[:i+len(begin)] + want + doc[j:]
	if err := os.WriteFile(docPath, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
}
