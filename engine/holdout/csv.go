package holdout

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/engine/spec"
	"github.com/medforge/medforge/engine/strictcsv"
)

// csvLimits bound a holdout CSV: Arrow's int32 offsets cap the id bytes.
var csvLimits = strictcsv.Limits{MaxBytes: math.MaxInt32}

// ImportCSV reads a holdout from the competition's label CSV, with the byte
// rules of strictcsv and the value rules of the spec: a header naming
// exactly the spec's holdout columns (any order), non-empty unique ids,
// integers in range, finite floats. For the box-rows layout, each row is
// one box of a unit (Target=1, x,y,width,height numbers with positive width
// and height) or a unit without boxes (Target=0, the four box fields
// empty, one such row per unit and no box rows for it); units keep the
// order of their first row and boxes the order of their rows. Problems
// come back as one *strictcsv.InvalidError naming rows and columns.
func ImportCSV(sp spec.Spec, data []byte) (*Holdout, error) {
	if err := sp.Validate(); err != nil {
		return nil, err
	}
	probs := strictcsv.NewProblems(maxHoldoutProblems)
	r, err := strictcsv.NewReader(data, csvLimits, probs)
	if err != nil {
		return nil, err
	}
	pos, ok := strictcsv.MatchHeader(r.Header(), sp.HoldoutHeader(), probs)
	if !ok || probs.Len() > 0 {
		return nil, probs.Err()
	}
	if sp.Layout == spec.BoxRows {
		return importBoxRows(sp, r, pos, probs)
	}
	return importRows(sp, data, r, pos, probs)
}

func importRows(sp spec.Spec, data []byte, r *strictcsv.Reader, pos []int, probs *strictcsv.Problems) (*Holdout, error) {
	// Size the columns from the line count (an upper bound on the rows) to
	// avoid regrowing them.
	lines := bytes.Count(data, []byte{'\n'}) + 1
	key := abi.Column{Offsets: make([]int32, 1, lines+1), Data: make([]byte, 0, len(data)/(len(sp.Columns)+1))}
	truth := wantTruth(sp)
	for c := range truth {
		switch truth[c].Type {
		case abi.Int64:
			truth[c].Int64 = make([]int64, 0, lines)
		case abi.Float64:
			truth[c].Float64 = make([]float64, 0, lines)
		}
	}
	units := 0
	for {
		f, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		row := r.Row()
		good := true
		for c, col := range sp.Columns {
			v := f[pos[c+1]]
			switch col.Type {
			case spec.Int:
				x, ok := strictcsv.ParseInt(v)
				if !ok || x < col.Min || x > col.Max {
					probs.Add(strictcsv.Problem{Row: row, Column: col.Name, Value: strictcsv.Show(v), Message: fmt.Sprintf("must be an integer in %d..%d", col.Min, col.Max)})
					good = false
					continue
				}
				truth[c].Int64 = append(truth[c].Int64, x)
			case spec.Float:
				x, ok := strictcsv.ParseFloat(v)
				if !ok {
					probs.Add(strictcsv.Problem{Row: row, Column: col.Name, Value: strictcsv.Show(v), Message: "must be a finite decimal number"})
					good = false
					continue
				}
				truth[c].Float64 = append(truth[c].Float64, x)
			}
		}
		if !good {
			continue
		}
		key.Data = append(key.Data, f[pos[0]]...)
		if len(key.Data) > math.MaxInt32 {
			return nil, errors.New("holdout ids exceed 2 GiB")
		}
		key.Offsets = append(key.Offsets, int32(len(key.Data)))
		units++
	}
	if err := probs.Err(); err != nil {
		return nil, err
	}
	if units == 0 {
		return nil, &strictcsv.InvalidError{Problems: []strictcsv.Problem{{Message: "holdout has a header but no rows"}}}
	}
	// No record was skipped (that would be a problem), so unit i is the
	// (i+2)th record: the header is row 1.
	return build(sp, key, truth, func(i int) int { return i + 2 })
}

// boxUnit is one unit of a box-rows holdout as its rows are read.
type boxUnit struct {
	row    int32
	noBox  int32 // row of its Target=0 row, or 0
	boxRow int32 // row of its first Target=1 row, or 0
	boxes  []float64
}

// importBoxRows reads the records of a box-rows holdout (see ImportCSV):
// units in the order of their first row, each with its boxes in row order.
func importBoxRows(sp spec.Spec, r *strictcsv.Reader, pos []int, probs *strictcsv.Problems) (*Holdout, error) {
	var units []boxUnit
	at := map[string]int{}
	names := sp.HoldoutHeader() // id,x,y,width,height,Target
	for {
		f, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		row := int32(r.Row())
		id := f[pos[0]]
		if len(id) == 0 {
			probs.Add(strictcsv.Problem{Row: int(row), Column: sp.ID, Message: "id is empty"})
			continue
		}
		tv := f[pos[5]]
		target, ok := strictcsv.ParseInt(tv)
		if !ok || target < 0 || target > 1 {
			probs.Add(strictcsv.Problem{Row: int(row), Column: "Target", Value: strictcsv.Show(tv), Message: "must be 0 or 1"})
			continue
		}
		box, good := boxOf(f, pos, names, int(row), target, probs)
		if !good {
			continue
		}
		u, seen := at[string(id)]
		if !seen {
			u = len(units)
			at[string(id)] = u
			units = append(units, boxUnit{row: row})
		}
		if msg := units[u].add(row, target, box); msg != "" {
			probs.Add(strictcsv.Problem{Row: int(row), Column: sp.ID, Value: strictcsv.Show(id), Message: msg})
		}
	}
	if err := probs.Err(); err != nil {
		return nil, err
	}
	if len(units) == 0 {
		return nil, &strictcsv.InvalidError{Problems: []strictcsv.Problem{{Message: "holdout has a header but no rows"}}}
	}
	key, boxes, err := boxColumns(units, at)
	if err != nil {
		return nil, err
	}
	return build(sp, key, []abi.Column{boxes}, func(i int) int { return int(units[i].row) })
}

// boxOf checks the four box fields of record f (row number row, Target
// target; names is the holdout header) and returns the box: with Target=1
// finite decimals with positive width and height, with Target=0 all empty
// (and a zero box). It reports false, with one problem per bad field
// collected, otherwise.
func boxOf(f [][]byte, pos []int, names []string, row int, target int64, probs *strictcsv.Problems) ([4]float64, bool) {
	var box [4]float64
	good := true
	for k := 0; k < 4; k++ {
		v := f[pos[1+k]]
		if target == 0 {
			if len(v) != 0 {
				probs.Add(strictcsv.Problem{Row: row, Column: names[1+k], Value: strictcsv.Show(v), Message: "must be empty when Target is 0"})
				good = false
			}
			continue
		}
		x, ok := strictcsv.ParseFloat(v)
		if !ok {
			probs.Add(strictcsv.Problem{Row: row, Column: names[1+k], Value: strictcsv.Show(v), Message: "must be a finite decimal number when Target is 1"})
			good = false
			continue
		}
		if k >= 2 && x <= 0 {
			probs.Add(strictcsv.Problem{Row: row, Column: names[1+k], Value: strictcsv.Show(v), Message: "box width and height must be positive"})
			good = false
			continue
		}
		box[k] = x
	}
	return box, good
}

// add records row (Target target, its box when target is 1) in un. A
// Target=0 row must be its unit's only row: add refuses a second row
// beside one, returning the problem's message and leaving un unchanged.
func (un *boxUnit) add(row int32, target int64, box [4]float64) string {
	if target == 0 {
		if un.noBox != 0 || un.boxRow != 0 {
			first := max(un.noBox, un.boxRow)
			return fmt.Sprintf("a Target=0 row must be the only row of its id; row %d has the same id", first)
		}
		un.noBox = row
		return ""
	}
	if un.noBox != 0 {
		return fmt.Sprintf("id already has a Target=0 row (row %d), so it cannot have boxes", un.noBox)
	}
	if un.boxRow == 0 {
		un.boxRow = row
	}
	un.boxes = append(un.boxes, box[:]...)
	return ""
}

// boxColumns lays the units out as the key column (ids from at, which
// maps each id to its unit) and the boxes truth column, in unit order. It
// fails when either outgrows Arrow's 32-bit offsets.
func boxColumns(units []boxUnit, at map[string]int) (key, boxes abi.Column, err error) {
	ids := make([][]byte, len(units))
	for id, u := range at {
		ids[u] = []byte(id)
	}
	key = abi.Column{Offsets: make([]int32, 1, len(units)+1)}
	boxes = abi.Column{Name: BoxesColumn, Role: abi.Truth, Type: abi.ListFloat64, Offsets: make([]int32, 1, len(units)+1)}
	for u := range units {
		key.Data = append(key.Data, ids[u]...)
		key.Offsets = append(key.Offsets, int32(len(key.Data)))
		boxes.Float64 = append(boxes.Float64, units[u].boxes...)
		boxes.Offsets = append(boxes.Offsets, int32(len(boxes.Float64)))
	}
	if len(key.Data) > math.MaxInt32 || len(boxes.Float64) > math.MaxInt32 {
		return abi.Column{}, abi.Column{}, errors.New("holdout too large for Arrow's 32-bit offsets")
	}
	return key, boxes, nil
}
