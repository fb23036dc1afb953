package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/engine/spec"
)

// ManifestName is the manifest's file name inside a bundle.
const ManifestName = "competition.json"

// MaxManifestBytes bounds the manifest.
const MaxManifestBytes = 1 << 20

// MaxDailyCap bounds a bundle's daily cap (an admin's; authors have their
// own, lower bound).
const MaxDailyCap = 10000

// Manifest is competition.json.
type Manifest struct {
	// Slug names the competition and its dataset: 1-64 of [a-z0-9-].
	Slug        string `json:"slug"`
	Title       string `json:"title"`
	Description string `json:"description"`
	// Exposure is EXTERNAL (default) or INTERNAL.
	Exposure string `json:"exposure"`
	// Metric names a built-in scorer module (<metric>.wasm in the scorers
	// directory) unless Scorer names a module file in the bundle; with a
	// Scorer it only labels the module.
	Metric string `json:"metric"`
	Scorer string `json:"scorer"`
	// ScorerVersion labels the module (default "1").
	ScorerVersion string `json:"scorer_version"`
	// Direction is "maximize" or "minimize".
	Direction string `json:"direction"`
	// DailyCap is the accepted submissions per user per UTC day (1-10000).
	DailyCap int `json:"daily_cap"`
	// IDColumn and Columns are the submission's columns; Layout is the
	// holdout layout ("rows" default, or "box-rows").
	IDColumn string        `json:"id_column"`
	Columns  []spec.Column `json:"columns"`
	Layout   string        `json:"layout"`
	// Holdout is the holdout file name (default: holdout.arrow or
	// holdout.csv, whichever exists).
	Holdout string `json:"holdout"`
	// ScoringMode is single_realtime_hidden (default) or public_private;
	// PublicFraction is the public part's share of the holdout units in
	// public_private mode (default 0.3, strictly between 0 and 1).
	ScoringMode    string   `json:"scoring_mode"`
	PublicFraction *float64 `json:"public_fraction"`
	// DisplayDigits: significant digits of public scores (default 5).
	DisplayDigits int `json:"display_digits"`
	// FinalLimit: submissions a participant may mark final (default 2);
	// SelectionDeadline (RFC 3339) ends the selection (none: permanent).
	FinalLimit        int    `json:"final_limit"`
	SelectionDeadline string `json:"selection_deadline"`
}

// Scoring is the manifest's scoring settings.
func (m Manifest) Scoring() competitions.ScoringSettings {
	ss := competitions.ScoringSettings{Mode: m.ScoringMode, DisplayDigits: m.DisplayDigits, FinalLimit: m.FinalLimit}
	if t, err := time.Parse(time.RFC3339, m.SelectionDeadline); err == nil {
		ss.SelectionDeadline = &t
	}
	if m.PublicFraction != nil {
		ss.PublicFraction = *m.PublicFraction
	}
	return ss
}

// FieldError is one invalid manifest field.
type FieldError struct {
	Field   string
	Message string
}

// ManifestError lists every invalid field of a manifest.
type ManifestError struct{ Fields []FieldError }

func (e *ManifestError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid " + ManifestName + ": " + strings.Join(parts, "; ")
}

// ParseManifest decodes and checks a manifest. Unknown fields, trailing data
// and wrong types are refused; a *ManifestError names each bad field.
func ParseManifest(data []byte) (Manifest, error) {
	var m Manifest
	if len(data) > MaxManifestBytes {
		return m, &ManifestError{Fields: []FieldError{{Field: "(file)", Message: fmt.Sprintf("larger than %d bytes", MaxManifestBytes)}}}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, &ManifestError{Fields: []FieldError{jsonField(err)}}
	}
	if _, err := dec.Token(); err != io.EOF {
		return m, &ManifestError{Fields: []FieldError{{Field: "(file)", Message: "data after the JSON object"}}}
	}
	if m.Exposure == "" {
		m.Exposure = "EXTERNAL"
	}
	if m.Layout == "" {
		m.Layout = string(spec.Rows)
	}
	if m.ScorerVersion == "" {
		m.ScorerVersion = "1"
	}
	if m.Metric == "" && m.Scorer != "" {
		m.Metric = "custom"
	}
	if m.ScoringMode == "" {
		m.ScoringMode = competitions.ModeSingle
	}
	// The bundle's own fields; the definition every competition shares is
	// checked by competitions.Draft.Validate, the authors' check.
	var fe []FieldError
	bad := func(field, format string, a ...any) { fe = append(fe, FieldError{field, fmt.Sprintf(format, a...)}) }
	if m.Metric == "" {
		bad("metric", "name a built-in metric (accuracy, top1, map-iou) or give a scorer file")
	}
	if m.Scorer != "" && !competitions.ValidFileName(m.Scorer) {
		bad("scorer", "must be a file name in the bundle (no path), got %q", m.Scorer)
	}
	if len(m.ScorerVersion) > 64 {
		bad("scorer_version", "must be at most 64 characters")
	}
	if m.Holdout != "" && !competitions.ValidFileName(m.Holdout) {
		bad("holdout", "must be a file name in the bundle (no path), got %q", m.Holdout)
	}
	if m.PublicFraction != nil && m.ScoringMode != competitions.ModePublicPrivate {
		bad("public_fraction", "needs scoring_mode %s", competitions.ModePublicPrivate)
	}
	d := competitions.Draft{Slug: m.Slug, Title: m.Title, Description: m.Description, Exposure: m.Exposure, Metric: m.Metric,
		Direction: m.Direction, DailyCap: m.DailyCap, IDColumn: m.IDColumn, Columns: m.Columns, Layout: m.Layout,
		ScoringMode: m.ScoringMode, PublicFraction: m.PublicFraction, DisplayDigits: m.DisplayDigits, FinalLimit: m.FinalLimit}
	if m.SelectionDeadline != "" {
		t, err := time.Parse(time.RFC3339, m.SelectionDeadline)
		if err != nil {
			bad("selection_deadline", "must be an RFC 3339 time such as 2027-03-01T00:00:00Z, got %q", m.SelectionDeadline)
		}
		d.SelectionDeadline = &t
	}
	if d.Metric == "" {
		d.Metric = "unnamed" // reported above
	}
	if _, err := d.Validate(MaxDailyCap); err != nil {
		var ve *competitions.ValidationError
		if !errors.As(err, &ve) {
			return m, err
		}
		for _, f := range ve.Fields {
			fe = append(fe, FieldError{f.Field, f.Message})
		}
	}
	if len(fe) > 0 {
		return m, &ManifestError{Fields: fe}
	}
	return m, nil
}

// Spec is the engine spec the manifest describes.
func (m Manifest) Spec() spec.Spec {
	return spec.Spec{Slug: m.Slug, Metric: m.Metric, HigherIsBetter: m.Direction == "maximize", ID: m.IDColumn,
		Columns: append([]spec.Column(nil), m.Columns...), Layout: spec.Layout(m.Layout)}
}

func jsonField(err error) FieldError {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return FieldError{"(file)", fmt.Sprintf("not valid JSON at byte %d", se.Offset)}
	case errors.As(err, &te):
		if te.Field == "" {
			return FieldError{"(file)", "must be a JSON object"}
		}
		return FieldError{te.Field, "has the wrong type (want " + te.Type.String() + ")"}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return FieldError{strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "is not a known field"}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return FieldError{"(file)", "empty or truncated JSON"}
	}
	return FieldError{"(file)", "not valid JSON"}
}
