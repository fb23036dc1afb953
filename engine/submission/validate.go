package submission

import (
	"fmt"
	"io"
	"strings"

	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/engine/holdout"
	"github.com/medforge/medforge/engine/spec"
	"github.com/medforge/medforge/engine/strictcsv"
)

// Limits bound a submission. Zero fields take the defaults.
type Limits struct {
	// MaxBytes is the largest file accepted (default 256 MiB).
	MaxBytes int64
	// MaxRows is the most data rows accepted (default 10 million).
	MaxRows int
	// MaxProblems caps the problems reported (default 20); checking stops
	// once it is reached.
	MaxProblems int
}

// DefaultLimits are the limits used for zero Limits fields.
var DefaultLimits = Limits{MaxBytes: 256 << 20, MaxRows: 10_000_000, MaxProblems: strictcsv.DefaultMaxProblems}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultLimits.MaxBytes
	}
	if l.MaxRows <= 0 {
		l.MaxRows = DefaultLimits.MaxRows
	}
	if l.MaxProblems <= 0 {
		l.MaxProblems = DefaultLimits.MaxProblems
	}
	return l
}

// missingExamples is how many missing ids a problem quotes.
const missingExamples = 3

// Read reads a submission from r within the size limit and validates it
// (see Validate).
func Read(sp spec.Spec, h *holdout.Holdout, r io.Reader, lim Limits) (*abi.Input, error) {
	lim = lim.withDefaults()
	data, err := strictcsv.ReadAll(r, lim.MaxBytes)
	if err != nil {
		return nil, err
	}
	return Validate(sp, h, data, lim)
}

// Validate checks a submission's bytes against sp and the holdout h (which
// must have been built for sp) and returns the scorer input: Units = the
// holdout's units, columns Key (the holdout ids), the holdout's Truth
// columns, then one Prediction column per spec column (Int64, Float64, or
// ListFloat64 with 5 numbers per box in the submission's order), all in
// holdout order. Truth and Key buffers are shared with h.
//
// A submission that breaks a rule yields a *strictcsv.InvalidError listing
// up to lim.MaxProblems problems; any other error is internal. data must
// not be modified while the call runs; the result does not alias it.
func Validate(sp spec.Spec, h *holdout.Holdout, data []byte, lim Limits) (*abi.Input, error) {
	lim = lim.withDefaults()
	if h.Spec().Slug != sp.Slug {
		return nil, fmt.Errorf("holdout is for %q, not %q", h.Spec().Slug, sp.Slug)
	}
	probs := strictcsv.NewProblems(lim.MaxProblems)
	r, err := strictcsv.NewReader(data, strictcsv.Limits{MaxBytes: lim.MaxBytes, MaxRows: lim.MaxRows}, probs)
	if err != nil {
		return nil, err
	}
	pos, ok := strictcsv.MatchHeader(r.Header(), sp.SubmissionHeader(), probs)
	if !ok || probs.Len() > 0 {
		return nil, probs.Err()
	}
	n := h.Units()
	v := &validator{sp: sp, h: h, idx: h.Index(), r: r, probs: probs, pos: pos, firstRow: make([]int32, n)}
	v.preds = make([]abi.Column, len(sp.Columns))
	for c, col := range sp.Columns {
		p := &v.preds[c]
		p.Name, p.Role = col.Name, abi.Prediction
		switch col.Type {
		case spec.Int:
			p.Type, p.Int64 = abi.Int64, make([]int64, n)
		case spec.Float:
			p.Type, p.Float64 = abi.Float64, make([]float64, n)
		case spec.Boxes:
			p.Type = abi.ListFloat64
			v.boxStart, v.boxLen = make([]int32, n), make([]int32, n)
		}
	}
	rows, err := v.run()
	if err != nil {
		return nil, err
	}
	if rows == 0 {
		probs.Add(strictcsv.Problem{Message: fmt.Sprintf("submission has a header but no rows; it needs one row per %s of the test set (%d rows)", sp.ID, n)})
		return nil, probs.Err()
	}
	v.missing()
	if err := probs.Err(); err != nil {
		return nil, err
	}
	in := &abi.Input{Units: n, Columns: make([]abi.Column, 0, 1+len(h.Truth())+len(v.preds))}
	in.Columns = append(in.Columns, h.Key())
	in.Columns = append(in.Columns, h.Truth()...)
	for c := range v.preds {
		if v.preds[c].Type == abi.ListFloat64 {
			v.alignBoxes(&v.preds[c])
		}
		in.Columns = append(in.Columns, v.preds[c])
	}
	return in, nil
}

type validator struct {
	sp       spec.Spec
	h        *holdout.Holdout
	idx      *holdout.Index
	r        *strictcsv.Reader
	probs    *strictcsv.Problems
	pos      []int
	firstRow []int32 // per unit: the row that gave it, 0 while missing
	preds    []abi.Column
	// Boxes, in submission order: unit u's numbers are
	// boxBuf[boxStart[u] : boxStart[u]+boxLen[u]].
	boxBuf           []float64
	boxStart, boxLen []int32
}

func (v *validator) run() (rows int, err error) {
	sp, pos := v.sp, v.pos
	idPos := pos[0]
	keys := v.h.Key()
	next := 0 // the unit after the last one matched: most files follow holdout order
	for {
		f, err := v.r.Next()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return rows, err
		}
		rows++
		row := v.r.Row()
		id := f[idPos]
		u, ok := next, false
		if next < len(v.firstRow) && string(keys.Data[keys.Offsets[next]:keys.Offsets[next+1]]) == string(id) {
			ok = true
		} else {
			u, ok = v.idx.Lookup(id)
		}
		if !ok {
			msg := "unknown id: not in the test set"
			if len(id) == 0 {
				msg = "id is empty"
			}
			v.probs.Add(strictcsv.Problem{Row: row, Column: sp.ID, Value: strictcsv.Show(id), Message: msg})
			continue
		}
		if fr := v.firstRow[u]; fr != 0 {
			v.probs.Add(strictcsv.Problem{Row: row, Column: sp.ID, Value: strictcsv.Show(id), Message: fmt.Sprintf("duplicate id, first given at row %d", fr)})
			continue
		}
		v.firstRow[u] = int32(row)
		next = u + 1
		for c := range sp.Columns {
			col := &sp.Columns[c]
			val := f[pos[c+1]]
			switch col.Type {
			case spec.Int:
				x, ok := strictcsv.ParseInt(val)
				if !ok || x < col.Min || x > col.Max {
					v.probs.Add(strictcsv.Problem{Row: row, Column: col.Name, Value: strictcsv.Show(val), Message: intRule(col)})
					continue
				}
				v.preds[c].Int64[u] = x
			case spec.Float:
				x, ok := strictcsv.ParseFloat(val)
				if !ok {
					v.probs.Add(strictcsv.Problem{Row: row, Column: col.Name, Value: strictcsv.Show(val), Message: "must be a finite decimal number"})
					continue
				}
				v.preds[c].Float64[u] = x
			case spec.Boxes:
				start := len(v.boxBuf)
				var msg string
				v.boxBuf, msg = ParsePredictionString(val, v.boxBuf)
				if msg != "" {
					v.probs.Add(strictcsv.Problem{Row: row, Column: col.Name, Value: strictcsv.Show(val), Message: msg})
					continue
				}
				v.boxStart[u], v.boxLen[u] = int32(start), int32(len(v.boxBuf)-start)
			}
		}
	}
}

func intRule(c *spec.Column) string {
	if c.Min == 0 && c.Max == 1 {
		return "must be 0 or 1"
	}
	return fmt.Sprintf("must be an integer from %d to %d", c.Min, c.Max)
}

// missing reports the holdout ids the submission lacks: their count and the
// first few in holdout order.
func (v *validator) missing() {
	count := 0
	var ex []string
	for u, fr := range v.firstRow {
		if fr == 0 {
			count++
			if len(ex) < missingExamples {
				ex = append(ex, strictcsv.Show(v.h.ID(u)))
			}
		}
	}
	if count == 0 {
		return
	}
	// When rows were rejected for other problems their ids count as
	// missing too; say so rather than mislead.
	note := ""
	if v.probs.Len() > 0 {
		note = " (rows with other problems count as missing)"
	}
	v.probs.Add(strictcsv.Problem{Column: v.sp.ID, Message: fmt.Sprintf("%d ids of the test set are missing%s, e.g. %s", count, note, strings.Join(ex, ", "))})
}

func (v *validator) alignBoxes(c *abi.Column) {
	n := len(v.boxStart)
	c.Offsets = make([]int32, n+1)
	c.Float64 = make([]float64, 0, len(v.boxBuf))
	for u := 0; u < n; u++ {
		s := v.boxStart[u]
		c.Float64 = append(c.Float64, v.boxBuf[s:s+v.boxLen[u]]...)
		c.Offsets[u+1] = int32(len(c.Float64))
	}
}
