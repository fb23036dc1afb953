package submission

import (
	"bytes"
	"fmt"
	"io"
	"math"
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
	v := &validator{sp: sp, h: h, idx: h.Index(), r: r, probs: probs, pos: pos, lines: bytes.Count(data, []byte{'\n'}) + 1}
	v.boxBuf = make([]float64, 0, boxesBound(sp, h.Units(), data, v.lines))
	if err := v.run(); err != nil {
		return nil, err
	}
	if len(v.ents) == 0 && probs.Len() == 0 {
		probs.Add(strictcsv.Problem{Message: fmt.Sprintf("submission has a header but no rows; it needs one row per %s of the test set (%d rows)", sp.ID, h.Units())})
		return nil, probs.Err()
	}
	preds := v.align()
	probs.SortByRow()
	if err := probs.Err(); err != nil {
		return nil, err
	}
	in := &abi.Input{Units: h.Units(), Columns: make([]abi.Column, 0, 1+len(h.Truth())+len(preds))}
	in.Columns = append(in.Columns, h.Key())
	in.Columns = append(in.Columns, h.Truth()...)
	in.Columns = append(in.Columns, preds...)
	return in, nil
}

// boxesBound is the capacity that holds every box number a submission can
// give: each number but the last of a field is followed by a separator, so
// there are at most as many numbers as spaces, tabs and lines; and no more
// than the units times the boxes-per-row cap. Sized once, the numbers are
// never copied by growth, and a file of separators alone cannot ask for
// more than the cap allows.
func boxesBound(sp spec.Spec, units int, data []byte, lines int) int {
	limit := 0
	for _, c := range sp.Columns {
		if c.Type == spec.Boxes {
			limit += 5 * c.BoxLimit() * units
		}
	}
	if limit == 0 {
		return 0
	}
	return min(limit, bytes.Count(data, []byte{' '})+bytes.Count(data, []byte{'\t'})+lines)
}

// entry is one accepted record of pass 1: its unit, its index k among the
// accepted records (negative, ^k, when a value was invalid: the unit is
// present but unusable), and its first column's value as bits.
type entry struct {
	u int32
	k int32
	v uint64
}

// validator checks in two passes so that any row order is fast: pass 1
// reads the file sequentially into entries in file order; pass 2 puts the
// entries in holdout order (at once when the file already is, else with a
// stable radix sort, which touches memory sequentially where a scatter by
// unit would miss the cache on every row) and then finds duplicates,
// missing units and the aligned predictions in one sequential walk.
type validator struct {
	sp    spec.Spec
	h     *holdout.Holdout
	idx   *holdout.Index
	r     *strictcsv.Reader
	probs *strictcsv.Problems
	pos   []int
	lines int // upper bound on the rows, to size buffers

	ents []entry
	rows []int32 // per accepted record k: its row number
	// seen marks the units already given (one bit each), so a duplicate
	// is refused as it is read and the entries never outnumber the
	// holdout's units, whatever the file's length.
	seen []uint64
	// more holds the values of columns after the first, per k.
	more [][]uint64
	// Boxes per k: boxBuf[boxStart[k] : boxStart[k]+boxLen[k]].
	boxBuf           []float64
	boxStart, boxLen []int32
}

// run is pass 1: it reads every record of v.r, refusing (as collected
// problems) unknown, empty and duplicate ids, and appends one entry per
// accepted record, with its values parsed and checked, in file order. It
// returns an error only for a fatal problem of the reader. The per-row work
// stays in this one loop: it is the scoring hot path.
func (v *validator) run() error {
	sp, pos := v.sp, v.pos
	idPos := pos[0]
	keys := v.h.Key()
	n := v.h.Units()
	v.allocate(n)
	next, seq := 0, true // the unit after the last one matched: most files follow holdout order
	for {
		f, err := v.r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		row := v.r.Row()
		id := f[idPos]
		u, ok := next, false
		// Try the unit after the previous one only while the file follows
		// holdout order: in a shuffled file the guess would cost two cache
		// misses per row.
		if seq && next < n && string(keys.Data[keys.Offsets[next]:keys.Offsets[next+1]]) == string(id) {
			ok = true
		} else {
			u, ok = v.idx.Lookup(id)
			seq = ok && u == next
		}
		if !ok {
			v.unknownID(row, id)
			continue
		}
		next = u + 1
		if v.seen[u/64]&(1<<(u%64)) != 0 {
			v.duplicateID(row, id, u)
			continue
		}
		v.seen[u/64] |= 1 << (u % 64)
		k := int32(len(v.ents))
		e := entry{u: int32(u), k: k}
		for c := range sp.Columns {
			col := &sp.Columns[c]
			val := f[pos[c+1]]
			var bits uint64
			switch col.Type {
			case spec.Int:
				x, ok := strictcsv.ParseInt(val)
				if !ok || x < col.Min || x > col.Max {
					v.probs.Add(strictcsv.Problem{Row: row, Column: col.Name, Value: strictcsv.Show(val), Message: intRule(col)})
					e.k = ^k
				}
				bits = uint64(x)
			case spec.Float:
				x, ok := strictcsv.ParseFloat(val)
				if !ok {
					v.probs.Add(strictcsv.Problem{Row: row, Column: col.Name, Value: strictcsv.Show(val), Message: "must be a finite decimal number"})
					e.k = ^k
				}
				bits = math.Float64bits(x)
			case spec.Boxes:
				if !v.addBoxes(row, col, val) {
					e.k = ^k
				}
			}
			if c == 0 {
				e.v = bits
			} else {
				v.more[c] = append(v.more[c], bits)
			}
		}
		v.ents = append(v.ents, e)
		v.rows = append(v.rows, int32(row))
	}
}

// allocate sizes pass 1's buffers for a holdout of n units: the entries
// and row numbers to the smaller of the file's rows and n+1 (duplicates
// are refused, so no more are ever kept), the seen bits to n.
func (v *validator) allocate(n int) {
	v.ents = make([]entry, 0, min(v.lines, n+1))
	v.rows = make([]int32, 0, min(v.lines, n+1))
	v.more = make([][]uint64, len(v.sp.Columns))
	v.seen = make([]uint64, (n+63)/64)
}

// unknownID reports row's id, which no unit of the holdout has (or which
// is empty), as a problem.
func (v *validator) unknownID(row int, id []byte) {
	msg := "unknown id: not in the test set"
	if len(id) == 0 {
		msg = "id is empty"
	}
	v.probs.Add(strictcsv.Problem{Row: row, Column: v.sp.ID, Value: strictcsv.Show(id), Message: msg})
}

// duplicateID reports row's id, of unit u already given by an earlier row,
// as a problem naming that row.
func (v *validator) duplicateID(row int, id []byte, u int) {
	v.probs.Add(strictcsv.Problem{Row: row, Column: v.sp.ID, Value: strictcsv.Show(id),
		Message: fmt.Sprintf("duplicate id, first given at row %d", v.firstRow(int32(u)))})
}

// addBoxes parses val, row's value of the boxes column col, onto
// v.boxBuf and records where its boxes start and how many numbers they
// take (none kept past a refused value). It reports false, with the
// problem collected, when val is not a valid list of boxes.
func (v *validator) addBoxes(row int, col *spec.Column, val []byte) bool {
	start := len(v.boxBuf)
	var msg string
	v.boxBuf, msg = ParseBoxes(val, v.boxBuf, col.BoxLimit())
	if msg != "" {
		v.probs.Add(strictcsv.Problem{Row: row, Column: col.Name, Value: strictcsv.Show(val), Message: msg})
	}
	v.boxStart = append(v.boxStart, int32(start))
	v.boxLen = append(v.boxLen, int32(len(v.boxBuf)-start))
	return msg == ""
}

// align orders the entries by unit, reports duplicate and missing units,
// and returns the prediction columns in holdout order.
func (v *validator) align() []abi.Column {
	n := v.h.Units()
	ents := v.ents
	inOrder := len(ents) == n
	for i := 0; inOrder && i < len(ents); i++ {
		inOrder = ents[i].u == int32(i)
	}
	if !inOrder {
		ents = sortByUnit(ents, n)
	}
	// Every unit given once, in order, each with its boxes (a row whose
	// boxes were refused has none and the file is invalid anyway): the
	// boxes were appended in unit order.
	boxesInPlace := inOrder
	preds := v.newPredictions(n, boxesInPlace)
	missing := 0
	var examples []string
	miss := func(u int) {
		missing++
		if len(examples) < missingExamples {
			examples = append(examples, strictcsv.Show(v.h.ID(u)))
		}
	}
	want := 0                // next unit expected
	for _, e := range ents { // one entry per unit: duplicates were refused in pass 1
		u := int(e.u)
		for ; want < u; want++ {
			v.fillEmpty(preds, want)
			miss(want)
		}
		want = u + 1
		k := e.k
		if k < 0 { // invalid value, already reported
			v.fillEmpty(preds, u)
			continue
		}
		for c := range preds {
			p := &preds[c]
			bits := e.v
			if c > 0 {
				bits = v.more[c][k]
			}
			switch p.Type {
			case abi.Int64:
				p.Int64[u] = int64(bits)
			case abi.Float64:
				p.Float64[u] = math.Float64frombits(bits)
			case abi.ListFloat64:
				s, l := v.boxStart[k], v.boxLen[k]
				if boxesInPlace {
					p.Offsets[u+1] = s + l
				} else {
					p.Float64 = append(p.Float64, v.boxBuf[s:s+l]...)
					p.Offsets[u+1] = int32(len(p.Float64))
				}
			}
		}
	}
	for ; want < n; want++ {
		v.fillEmpty(preds, want)
		miss(want)
	}
	if missing > 0 {
		v.reportMissing(missing, examples)
	}
	return preds
}

// newPredictions allocates the prediction columns of n units, one per
// column of the spec, zeroed. With boxesInPlace (every unit given once,
// in holdout order) a boxes column takes the parsed boxes as they are,
// without a copy, and only its offsets remain to fill.
func (v *validator) newPredictions(n int, boxesInPlace bool) []abi.Column {
	preds := make([]abi.Column, len(v.sp.Columns))
	for c, col := range v.sp.Columns {
		p := &preds[c]
		p.Name, p.Role = col.Name, abi.Prediction
		switch col.Type {
		case spec.Int:
			p.Type, p.Int64 = abi.Int64, make([]int64, n)
		case spec.Float:
			p.Type, p.Float64 = abi.Float64, make([]float64, n)
		case spec.Boxes:
			p.Type, p.Offsets = abi.ListFloat64, make([]int32, n+1)
			// In holdout order the parsed boxes already are the column:
			// use them as they are instead of a second copy.
			if boxesInPlace {
				p.Float64 = v.boxBuf
			} else {
				p.Float64 = make([]float64, 0, len(v.boxBuf))
			}
		}
	}
	return preds
}

// reportMissing reports, as one problem, that missing units of the
// holdout were not given (examples naming the first few ids).
func (v *validator) reportMissing(missing int, examples []string) {
	// Rows rejected for other problems leave their ids missing too;
	// say so rather than mislead.
	note := ""
	if v.probs.Len() > 0 {
		note = " (rows with other problems count as missing)"
	}
	v.probs.Add(strictcsv.Problem{Column: v.sp.ID, Message: fmt.Sprintf("%d ids of the test set are missing%s, e.g. %s", missing, note, strings.Join(examples, ", "))})
}

// firstRow is the row that first gave unit u (pass 1, rare: only for a
// reported duplicate).
func (v *validator) firstRow(u int32) int {
	for k, e := range v.ents {
		if e.u == u {
			return int(v.rows[k])
		}
	}
	return 0
}

// fillEmpty closes unit u's list offsets when it has no usable prediction
// (only reached when the submission is invalid anyway).
func (v *validator) fillEmpty(preds []abi.Column, u int) {
	for c := range preds {
		if p := &preds[c]; p.Type == abi.ListFloat64 {
			p.Offsets[u+1] = int32(len(p.Float64))
		}
	}
}

// sortByUnit returns ents stably sorted by unit: an LSD radix sort on
// 11-bit digits of the unit, so each pass reads sequentially and writes to
// 2048 sequential streams.
func sortByUnit(ents []entry, units int) []entry {
	const bits = 11
	const buckets = 1 << bits
	tmp := make([]entry, len(ents))
	var count [buckets]int
	for shift := 0; units>>shift > 0 || shift == 0; shift += bits {
		count = [buckets]int{}
		for i := range ents {
			count[(ents[i].u>>shift)&(buckets-1)]++
		}
		sum := 0
		for b := range count {
			c := count[b]
			count[b] = sum
			sum += c
		}
		for i := range ents {
			b := (ents[i].u >> shift) & (buckets - 1)
			tmp[count[b]] = ents[i]
			count[b]++
		}
		ents, tmp = tmp, ents
	}
	return ents
}

func intRule(c *spec.Column) string {
	if c.Min == 0 && c.Max == 1 {
		return "must be 0 or 1"
	}
	return fmt.Sprintf("must be an integer from %d to %d", c.Min, c.Max)
}
