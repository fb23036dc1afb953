package spec

import (
	"errors"
	"fmt"
	"sort"
)

// ColumnType is the type of a non-id column's values.
type ColumnType string

const (
	// Int values are decimal integers (strictcsv.ParseInt) in [Min, Max].
	Int ColumnType = "int"
	// Float values are finite decimal numbers (strictcsv.ParseFloat).
	Float ColumnType = "float"
	// Boxes values are detection PredictionStrings: zero or more groups of
	// five numbers "confidence x y width height" separated by spaces, with
	// confidence in [0,1] and positive width and height; empty for none.
	Boxes ColumnType = "boxes"
)

// Layout says how the holdout file lays out the truth.
type Layout string

const (
	// Rows: one holdout row per unit, with the id column and the same
	// columns as the submission (the truth). Classification competitions.
	Rows Layout = "rows"
	// BoxRows: Kaggle's detection label format, id,x,y,width,height,Target,
	// one row per ground-truth box; a Target=0 row with empty box fields is
	// a unit with no box. The submission is the id and one Boxes column.
	BoxRows Layout = "box-rows"
)

// BoxRowsColumns are the holdout columns after the id of a BoxRows layout.
var BoxRowsColumns = []string{"x", "y", "width", "height", "Target"}

// Column is one non-id column of a submission.
type Column struct {
	Name string     `json:"name"`
	Type ColumnType `json:"type"`
	// Min and Max bound Int values, both inclusive.
	Min int64 `json:"min,omitempty"`
	Max int64 `json:"max,omitempty"`
	// MaxBoxes bounds the boxes of one row of a Boxes column (0 means
	// DefaultMaxBoxes). It bounds what validating a row may allocate, and
	// participants see it with the competition's columns.
	MaxBoxes int `json:"max_boxes,omitempty"`
}

// DefaultMaxBoxes is the boxes-per-row limit of a Boxes column that states
// none.
const DefaultMaxBoxes = 100

// MaxBoxesLimit is the largest MaxBoxes a spec may state.
const MaxBoxesLimit = 10_000

// BoxLimit is the boxes-per-row limit of a Boxes column: MaxBoxes, or
// DefaultMaxBoxes when it states none.
func (c Column) BoxLimit() int {
	if c.MaxBoxes > 0 {
		return c.MaxBoxes
	}
	return DefaultMaxBoxes
}

// Spec is everything the engine needs to validate and score a competition's
// submissions. The zero value is invalid; see Validate.
type Spec struct {
	// Slug names the competition (lowercase letters, digits and '-').
	Slug string `json:"slug"`
	// Metric names the scorer module (for built-ins, the file
	// <Metric>.wasm in the scorers directory).
	Metric string `json:"metric"`
	// HigherIsBetter is the score direction for ranking.
	HigherIsBetter bool `json:"higher_is_better"`
	// ID is the id column, present in the holdout and the submission.
	ID string `json:"id"`
	// Columns are the submission's other columns, in canonical order (a
	// submission may order its columns any way).
	Columns []Column `json:"columns"`
	// Layout is the holdout layout.
	Layout Layout `json:"layout"`
}

// SubmissionHeader returns the canonical submission header: the id then
// Columns.
func (s Spec) SubmissionHeader() []string {
	h := []string{s.ID}
	for _, c := range s.Columns {
		h = append(h, c.Name)
	}
	return h
}

// HoldoutHeader returns the canonical holdout CSV header.
func (s Spec) HoldoutHeader() []string {
	if s.Layout == BoxRows {
		return append([]string{s.ID}, BoxRowsColumns...)
	}
	return s.SubmissionHeader()
}

// MaxNameLen bounds column names, as the scorer ABI does.
const MaxNameLen = 64

// Validate reports every reason the spec cannot be used, joined, or nil.
// A valid spec has a slug, a metric, an id column, at least one column,
// unique non-empty names of at most MaxNameLen bytes, Min <= Max for Int columns, and a layout that
// fits its columns (BoxRows needs exactly one Boxes column; Rows allows no
// Boxes column).
func (s Spec) Validate() error {
	var errs []error
	if !validSlug(s.Slug) {
		errs = append(errs, fmt.Errorf("slug %q must be 1-64 lowercase letters, digits or '-'", s.Slug))
	}
	if !validSlug(s.Metric) {
		errs = append(errs, fmt.Errorf("metric %q must be 1-64 lowercase letters, digits or '-'", s.Metric))
	}
	if s.ID == "" {
		errs = append(errs, errors.New("id column is not named"))
	} else if len(s.ID) > MaxNameLen {
		errs = append(errs, fmt.Errorf("id column %q is longer than %d bytes", s.ID, MaxNameLen))
	}
	if len(s.Columns) == 0 {
		errs = append(errs, errors.New("no columns besides the id"))
	}
	seen := map[string]bool{s.ID: true}
	boxes := 0
	for i, c := range s.Columns {
		switch {
		case c.Name == "":
			errs = append(errs, fmt.Errorf("column %d has no name", i+1))
		case seen[c.Name]:
			errs = append(errs, fmt.Errorf("column %q appears twice", c.Name))
		case len(c.Name) > MaxNameLen:
			errs = append(errs, fmt.Errorf("column %q is longer than %d bytes", c.Name, MaxNameLen))
		}
		seen[c.Name] = true
		if c.Type != Boxes && c.MaxBoxes != 0 {
			errs = append(errs, fmt.Errorf("column %q: max_boxes applies only to boxes columns", c.Name))
		}
		switch c.Type {
		case Int:
			if c.Min > c.Max {
				errs = append(errs, fmt.Errorf("column %q: min %d > max %d", c.Name, c.Min, c.Max))
			}
		case Float:
		case Boxes:
			boxes++
			if c.MaxBoxes < 0 || c.MaxBoxes > MaxBoxesLimit {
				errs = append(errs, fmt.Errorf("column %q: max_boxes %d must be from 1 to %d (0 for the default, %d)", c.Name, c.MaxBoxes, MaxBoxesLimit, DefaultMaxBoxes))
			}
		default:
			errs = append(errs, fmt.Errorf("column %q: unknown type %q", c.Name, c.Type))
		}
	}
	switch s.Layout {
	case Rows:
		if boxes > 0 {
			errs = append(errs, errors.New(`layout "rows" cannot hold a boxes column`))
		}
	case BoxRows:
		if boxes != 1 || len(s.Columns) != 1 {
			errs = append(errs, errors.New(`layout "box-rows" needs exactly one column, of type boxes`))
		}
		for _, n := range BoxRowsColumns {
			if n == s.ID {
				errs = append(errs, fmt.Errorf("id column %q clashes with the box-rows holdout columns", n))
			}
		}
	default:
		errs = append(errs, fmt.Errorf("unknown layout %q", s.Layout))
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid spec %q: %w", s.Slug, errors.Join(errs...))
	}
	return nil
}

func validSlug(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// The built-in competitions' slugs.
const (
	Titanic = "titanic-survival"
	CIFAR   = "cifar-100-classification"
	RSNA    = "rsna-pneumonia-detection"
	// BreastCancer is the real-data competition authored through the
	// authoring flow (docs/authoring.md); it has no synthetic generator.
	BreastCancer = "breast-cancer-diagnosis"
)

var builtins = map[string]Spec{
	Titanic: {Slug: Titanic, Metric: "accuracy", HigherIsBetter: true, ID: "PassengerId",
		Columns: []Column{{Name: "Survived", Type: Int, Min: 0, Max: 1}}, Layout: Rows},
	CIFAR: {Slug: CIFAR, Metric: "top1", HigherIsBetter: true, ID: "image_id",
		Columns: []Column{{Name: "label", Type: Int, Min: 0, Max: 99}}, Layout: Rows},
	RSNA: {Slug: RSNA, Metric: "map-iou", HigherIsBetter: true, ID: "patientId",
		Columns: []Column{{Name: "PredictionString", Type: Boxes, MaxBoxes: DefaultMaxBoxes}}, Layout: BoxRows},
}

// realData are the built-in specs of competitions with real data.
var realData = map[string]Spec{
	BreastCancer: {Slug: BreastCancer, Metric: "roc-auc", HigherIsBetter: true, ID: "id",
		Columns: []Column{{Name: "malignant", Type: Float}}, Layout: Rows},
}

// Builtin returns the built-in spec for slug (a synthetic competition of
// BuiltinSlugs or a real-data one of Slugs). The returned value is a copy
// the caller may modify.
func Builtin(slug string) (Spec, bool) {
	s, ok := builtins[slug]
	if !ok {
		s, ok = realData[slug]
	}
	if !ok {
		return Spec{}, false
	}
	s.Columns = append([]Column(nil), s.Columns...)
	return s, true
}

// Slugs returns every built-in slug, real-data ones included, sorted.
func Slugs() []string {
	out := BuiltinSlugs()
	for k := range realData {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// BuiltinSlugs returns the slugs of the built-in synthetic competitions
// (those engine/synth generates data for), sorted.
func BuiltinSlugs() []string {
	out := make([]string, 0, len(builtins))
	for k := range builtins {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
