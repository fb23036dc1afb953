package spec_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/engine/spec"
)

func TestBuiltinsValid(t *testing.T) {
	t.Parallel()
	for _, slug := range spec.BuiltinSlugs() {
		s, ok := spec.Builtin(slug)
		require.True(t, ok)
		require.NoError(t, s.Validate(), slug)
	}
	_, ok := spec.Builtin("nope")
	require.False(t, ok)
	s, _ := spec.Builtin(spec.RSNA)
	require.Equal(t, []string{"patientId", "x", "y", "width", "height", "Target"}, s.HoldoutHeader())
	require.Equal(t, []string{"patientId", "PredictionString"}, s.SubmissionHeader())
}

func TestSpecFromManifestJSON(t *testing.T) {
	t.Parallel()
	var s spec.Spec
	require.NoError(t, json.Unmarshal([]byte(`{"slug":"my-comp","metric":"accuracy","higher_is_better":true,
		"id":"id","columns":[{"name":"y","type":"int","min":0,"max":4}],"layout":"rows"}`), &s))
	require.NoError(t, s.Validate())
	require.Equal(t, []string{"id", "y"}, s.HoldoutHeader())
}

func TestValidateRejects(t *testing.T) {
	t.Parallel()
	good, _ := spec.Builtin(spec.Titanic)
	tests := []struct {
		name   string
		mutate func(*spec.Spec)
		want   string
	}{
		{"bad slug", func(s *spec.Spec) { s.Slug = "Bad Slug" }, "slug"},
		{"no metric", func(s *spec.Spec) { s.Metric = "" }, "metric"},
		{"no id", func(s *spec.Spec) { s.ID = "" }, "id column is not named"},
		{"no columns", func(s *spec.Spec) { s.Columns = nil }, "no columns"},
		{"dup column", func(s *spec.Spec) { s.Columns = append(s.Columns, s.Columns[0]) }, "appears twice"},
		{"id dup", func(s *spec.Spec) { s.Columns[0].Name = s.ID }, "appears twice"},
		{"min>max", func(s *spec.Spec) { s.Columns[0].Min = 5 }, "min 5 > max 1"},
		{"bad type", func(s *spec.Spec) { s.Columns[0].Type = "text" }, "unknown type"},
		{"boxes in rows", func(s *spec.Spec) { s.Columns[0].Type = spec.Boxes }, "cannot hold a boxes"},
		{"box-rows without boxes", func(s *spec.Spec) { s.Layout = spec.BoxRows }, "exactly one column"},
		{"bad layout", func(s *spec.Spec) { s.Layout = "grid" }, "unknown layout"},
		{"max_boxes on an int column", func(s *spec.Spec) { s.Columns[0].MaxBoxes = 3 }, "max_boxes applies only to boxes columns"},
		{"max_boxes too large", func(s *spec.Spec) {
			s.Layout, s.Columns[0] = spec.BoxRows, spec.Column{Name: "p", Type: spec.Boxes, MaxBoxes: spec.MaxBoxesLimit + 1}
		}, "max_boxes 10001 must be from 1 to 10000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := good
			s.Columns = append([]spec.Column(nil), good.Columns...)
			tc.mutate(&s)
			require.ErrorContains(t, s.Validate(), tc.want)
		})
	}
}
