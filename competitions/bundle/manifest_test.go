package bundle

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

const good = `{
  "slug": "titanic-survival",
  "title": "Titanic",
  "description": "d",
  "exposure": "EXTERNAL",
  "metric": "accuracy",
  "direction": "maximize",
  "daily_cap": 20,
  "id_column": "PassengerId",
  "columns": [{"name": "Survived", "type": "int", "min": 0, "max": 1}]
}`

func TestParseManifest(t *testing.T) {
	m, err := ParseManifest([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if sp := m.Spec(); sp.Validate() != nil || !sp.HigherIsBetter || sp.Layout != "rows" || m.ScorerVersion != "1" {
		t.Fatalf("spec %+v", sp)
	}
	edit := func(old, new string) string { return strings.Replace(good, old, new, 1) }
	pp, err := ParseManifest([]byte(edit(`"columns"`, `"scoring_mode": "public_private", "public_fraction": 0.25, "final_limit": 3, "columns"`)))
	if ss := pp.Scoring(); err != nil || ss.Mode != "public_private" || ss.PublicFraction != 0.25 || ss.FinalLimit != 3 {
		t.Fatalf("split manifest: %+v %v", ss, err)
	}
	if ss := m.Scoring(); ss.Mode != "single_realtime_hidden" || ss.PublicFraction != 0 {
		t.Fatalf("default scoring %+v", ss)
	}
	tests := []struct {
		name  string
		json  string
		field string
	}{
		{"empty", "", "(file)"},
		{"not an object", "[]", "(file)"},
		{"syntax", "{", "(file)"},
		{"trailing data", good + "{}", "(file)"},
		{"unknown field", edit(`"title"`, `"titel": "x", "title"`), "titel"},
		{"wrong type", edit(`"daily_cap": 20`, `"daily_cap": "20"`), "daily_cap"},
		{"bad slug", edit(`"titanic-survival"`, `"Titanic Survival"`), "slug"},
		{"slug traversal", edit(`"titanic-survival"`, `"../etc"`), "slug"},
		{"no title", edit(`"Titanic"`, `"  "`), "title"},
		{"bad exposure", edit(`"EXTERNAL"`, `"PUBLIC"`), "exposure"},
		{"bad direction", edit(`"maximize"`, `"up"`), "direction"},
		{"zero cap", edit(`"daily_cap": 20`, `"daily_cap": 0`), "daily_cap"},
		{"huge cap", edit(`"daily_cap": 20`, `"daily_cap": 1000000`), "daily_cap"},
		{"no metric", edit(`"metric": "accuracy",`, ``), "metric"},
		{"scorer path", edit(`"metric": "accuracy",`, `"scorer": "../x.wasm",`), "scorer"},
		{"no id", edit(`"PassengerId"`, `""`), "id_column"},
		{"no columns", edit(`[{"name": "Survived", "type": "int", "min": 0, "max": 1}]`, `[]`), "columns"},
		{"bad column type", edit(`"type": "int"`, `"type": "text"`), "columns[0].type"},
		{"max_boxes on an int column", edit(`"min": 0, "max": 1}`, `"min": 0, "max": 1, "max_boxes": 5}`), "columns[0].max_boxes"},
		{"max_boxes too large", edit(`{"name": "Survived", "type": "int", "min": 0, "max": 1}`, `{"name": "Survived", "type": "boxes", "max_boxes": 20000}`), "columns[0].max_boxes"},
		{"min above max", edit(`"min": 0, "max": 1`, `"min": 2, "max": 1`), "columns[0].min"},
		{"unnamed column", edit(`"name": "Survived"`, `"name": ""`), "columns[0].name"},
		{"bad layout", edit(`"columns"`, `"layout": "grid", "columns"`), "layout"},
		{"boxes in rows layout", edit(`"type": "int", "min": 0, "max": 1`, `"type": "boxes"`), "columns"},
		{"holdout path", edit(`"columns"`, `"holdout": "/etc/shadow", "columns"`), "holdout"},
		{"bad scoring mode", edit(`"columns"`, `"scoring_mode": "public", "columns"`), "scoring_mode"},
		{"fraction without split", edit(`"columns"`, `"public_fraction": 0.3, "columns"`), "public_fraction"},
		{"fraction of 1", edit(`"columns"`, `"scoring_mode": "public_private", "public_fraction": 1, "columns"`), "public_fraction"},
		{"negative fraction", edit(`"columns"`, `"scoring_mode": "public_private", "public_fraction": -0.1, "columns"`), "public_fraction"},
		{"fraction as text", edit(`"columns"`, `"scoring_mode": "public_private", "public_fraction": "0.3", "columns"`), "public_fraction"},
		{"display digits", edit(`"columns"`, `"display_digits": 40, "columns"`), "display_digits"},
		{"final limit", edit(`"columns"`, `"final_limit": -2, "columns"`), "final_limit"},
		{"deadline not a time", edit(`"columns"`, `"selection_deadline": "soon", "columns"`), "selection_deadline"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseManifest([]byte(tc.json))
			var me *ManifestError
			if !errors.As(err, &me) {
				t.Fatalf("got %v, want *ManifestError", err)
			}
			for _, f := range me.Fields {
				if f.Field == tc.field {
					return
				}
			}
			t.Fatalf("error %q does not name field %q", err, tc.field)
		})
	}
}

// safeSlug is what an accepted slug must look like (a folder name that
// cannot climb out of a data root).
var safeSlug = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$`)

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(`{"slug":"a","columns":[{"name":"x","type":"boxes"}],"layout":"box-rows"}`))
	f.Add([]byte(`{"slug":"a","daily_cap":-1,"direction":"minimize"}`))
	f.Add([]byte("\xff\xfe{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			var me *ManifestError
			if !errors.As(err, &me) || len(me.Fields) == 0 {
				t.Fatalf("error %v is not a *ManifestError naming a field", err)
			}
			return
		}
		// Whatever parses is a usable, safe manifest.
		if err := m.Spec().Validate(); err != nil {
			t.Fatalf("accepted manifest has an invalid spec: %v", err)
		}
		if !safeSlug.MatchString(m.Slug) || strings.Contains(m.Scorer, "/") || strings.Contains(m.Holdout, "/") {
			t.Fatalf("accepted unsafe names: %+v", m)
		}
		if m.DailyCap < 1 || m.DailyCap > 10000 {
			t.Fatalf("accepted cap %d", m.DailyCap)
		}
	})
}
