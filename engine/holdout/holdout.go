package holdout

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"unsafe"

	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/engine/spec"
	"github.com/medforge/medforge/engine/strictcsv"
)

// BoxesColumn names the truth column of the box-rows layout.
const BoxesColumn = "boxes"

// Holdout is the truth of one competition: Units units, in holdout order.
// It is immutable once built.
type Holdout struct {
	spec   spec.Spec
	key    abi.Column
	truth  []abi.Column
	index  *Index
	digest string
}

// Spec returns the spec the holdout was built for.
func (h *Holdout) Spec() spec.Spec { return h.spec }

// Units returns the number of units (rows; images for detection).
func (h *Holdout) Units() int { return len(h.key.Offsets) - 1 }

// Key returns the id column (Role Key, Utf8). Its buffers are shared: the
// caller must not modify them.
func (h *Holdout) Key() abi.Column { return h.key }

// Truth returns the truth columns (Role Truth), in the order of the spec's
// columns, sharing the holdout's buffers: the caller must not modify them.
func (h *Holdout) Truth() []abi.Column { return h.truth }

// ID returns unit i's id.
func (h *Holdout) ID(i int) []byte { return h.key.Data[h.key.Offsets[i]:h.key.Offsets[i+1]] }

// Index returns the prepared id index.
func (h *Holdout) Index() *Index { return h.index }

// Digest returns "sha256:<hex>" over the holdout's content (column names,
// types and values in unit order). It does not depend on the file format:
// a CSV and the Arrow file imported from it have the same digest.
func (h *Holdout) Digest() string { return h.digest }

// maxHoldoutProblems caps the problems reported for one holdout.
const maxHoldoutProblems = 20

// build checks the columns against the spec and prepares the index and
// the digest. Columns come from a trusted-format reader (CSV import or
// Arrow), but their values are checked here in one place.
//
// rowOf, when not nil, maps a unit to the CSV row it came from, for
// messages; without it messages name the unit number.
func build(sp spec.Spec, key abi.Column, truth []abi.Column, rowOf func(int) int) (*Holdout, error) {
	where := func(i int) (int, string) {
		if rowOf != nil {
			return rowOf(i), ""
		}
		return 0, fmt.Sprintf("unit %d: ", i+1)
	}
	probs := strictcsv.NewProblems(maxHoldoutProblems)
	n := len(key.Offsets) - 1
	if n < 1 {
		return nil, errors.New("holdout has no units")
	}
	if err := checkOffsets(key.Offsets, len(key.Data)); err != nil {
		return nil, fmt.Errorf("holdout column %q: %w", sp.ID, err)
	}
	idx := checkKey(sp, key, n, where, rowOf != nil, probs)
	want := wantTruth(sp)
	if len(truth) != len(want) {
		return nil, fmt.Errorf("holdout has %d truth columns, spec %q wants %d", len(truth), sp.Slug, len(want))
	}
	for c, col := range truth {
		w := want[c]
		if col.Name != w.Name || col.Type != w.Type {
			return nil, fmt.Errorf("holdout truth column %d is %q of type %d, spec %q wants %q of type %d", c+1, col.Name, col.Type, sp.Slug, w.Name, w.Type)
		}
		if err := checkTruth(col, sp, c, n, where, probs); err != nil {
			return nil, err
		}
	}
	if err := probs.Err(); err != nil {
		return nil, err
	}
	key.Name, key.Role, key.Type = sp.ID, abi.Key, abi.Utf8
	h := &Holdout{spec: sp, key: key, truth: truth, index: idx}
	h.digest = digest(h)
	return h, nil
}

// checkKey collects a problem for each empty id of the n-unit key column
// (offsets already checked) and for each duplicate (up to the problem
// cap), and returns the key's index. where names a unit's row (byRow) or
// its unit number for messages.
func checkKey(sp spec.Spec, key abi.Column, n int, where func(int) (int, string), byRow bool, probs *strictcsv.Problems) *Index {
	for i := 0; i < n; i++ {
		if key.Offsets[i] == key.Offsets[i+1] {
			r, u := where(i)
			probs.Add(strictcsv.Problem{Row: r, Column: sp.ID, Message: u + "id is empty"})
		}
	}
	idx, dups := newIndex(key.Offsets, key.Data, maxHoldoutProblems)
	for _, d := range dups {
		r, u := where(d[1])
		r0, u0 := where(d[0])
		first := fmt.Sprintf("row %d", r0)
		if !byRow {
			first = strings.TrimSuffix(u0, ": ")
		}
		probs.Add(strictcsv.Problem{Row: r, Column: sp.ID, Value: strictcsv.Show(key.Data[key.Offsets[d[1]]:key.Offsets[d[1]+1]]),
			Message: u + "duplicate id, first seen at " + first})
	}
	return idx
}

// checkTruth checks truth column col, number c (of the type spec sp
// wants), of an n-unit holdout. A column of the wrong length or
// with bad offsets is an error; each value out of its spec column's range, non-finite,
// or (for boxes) not whole valid boxes is a collected problem, named by
// where.
func checkTruth(col abi.Column, sp spec.Spec, c, n int, where func(int) (int, string), probs *strictcsv.Problems) error {
	switch col.Type {
	case abi.Int64:
		if len(col.Int64) != n {
			return fmt.Errorf("holdout column %q has %d values for %d units", col.Name, len(col.Int64), n)
		}
		sc := sp.Columns[c]
		for i, v := range col.Int64 {
			if v < sc.Min || v > sc.Max {
				r, u := where(i)
				probs.Add(strictcsv.Problem{Row: r, Column: col.Name, Value: fmt.Sprint(v), Message: fmt.Sprintf("%smust be an integer in %d..%d", u, sc.Min, sc.Max)})
			}
		}
	case abi.Float64:
		if len(col.Float64) != n {
			return fmt.Errorf("holdout column %q has %d values for %d units", col.Name, len(col.Float64), n)
		}
		for i, v := range col.Float64 {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				r, u := where(i)
				probs.Add(strictcsv.Problem{Row: r, Column: col.Name, Value: fmt.Sprint(v), Message: u + "must be a finite number"})
			}
		}
	case abi.ListFloat64:
		if len(col.Offsets) != n+1 {
			return fmt.Errorf("holdout column %q has %d offsets for %d units", col.Name, len(col.Offsets), n)
		}
		if err := checkOffsets(col.Offsets, len(col.Float64)); err != nil {
			return fmt.Errorf("holdout column %q: %w", col.Name, err)
		}
		for i := 0; i < n; i++ {
			b := col.Float64[col.Offsets[i]:col.Offsets[i+1]]
			if len(b)%4 != 0 {
				r, u := where(i)
				probs.Add(strictcsv.Problem{Row: r, Column: col.Name, Message: fmt.Sprintf("%s%d numbers are not whole boxes of 4", u, len(b))})
				continue
			}
			for k := 0; k < len(b); k += 4 {
				if msg := checkBox(b[k : k+4]); msg != "" {
					r, u := where(i)
					probs.Add(strictcsv.Problem{Row: r, Column: col.Name, Message: fmt.Sprintf("%sbox %d: %s", u, k/4+1, msg)})
				}
			}
		}
	}
	return nil
}

// checkBox checks one x,y,width,height box.
func checkBox(b []float64) string {
	for _, v := range b {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "values must be finite numbers"
		}
	}
	if b[2] <= 0 || b[3] <= 0 {
		return "width and height must be positive"
	}
	return ""
}

func checkOffsets(off []int32, values int) error {
	if len(off) == 0 || off[0] != 0 {
		return errors.New("offsets must start at 0")
	}
	for i := 1; i < len(off); i++ {
		if off[i] < off[i-1] {
			return fmt.Errorf("offsets decrease at %d", i)
		}
	}
	if int(off[len(off)-1]) != values {
		return fmt.Errorf("offsets end at %d, not at the %d values", off[len(off)-1], values)
	}
	return nil
}

// wantTruth returns the truth columns a spec's holdout has, with names,
// roles and types but no values.
func wantTruth(sp spec.Spec) []abi.Column {
	if sp.Layout == spec.BoxRows {
		return []abi.Column{{Name: BoxesColumn, Role: abi.Truth, Type: abi.ListFloat64}}
	}
	out := make([]abi.Column, len(sp.Columns))
	for i, c := range sp.Columns {
		t := abi.Int64
		if c.Type == spec.Float {
			t = abi.Float64
		}
		out[i] = abi.Column{Name: c.Name, Role: abi.Truth, Type: t}
	}
	return out
}

func digest(h *Holdout) string {
	d := sha256.New()
	var hdr [8]byte
	put := func(name string, t abi.Type, parts ...[]byte) {
		d.Write([]byte(name))
		d.Write([]byte{0, byte(t)})
		for _, p := range parts {
			binary.LittleEndian.PutUint64(hdr[:], uint64(len(p)))
			d.Write(hdr[:])
			d.Write(p)
		}
	}
	d.Write([]byte("medforge-holdout/1\x00"))
	put(h.key.Name, h.key.Type, i32bytes(h.key.Offsets), h.key.Data)
	for _, c := range h.truth {
		switch c.Type {
		case abi.Int64:
			put(c.Name, c.Type, i64bytes(c.Int64))
		case abi.Float64:
			put(c.Name, c.Type, f64bytes(c.Float64))
		case abi.ListFloat64:
			put(c.Name, c.Type, i32bytes(c.Offsets), f64bytes(c.Float64))
		}
	}
	return "sha256:" + hex.EncodeToString(d.Sum(nil))
}

// The byte views below assume a little-endian host, which Arrow and the
// scorer ABI also assume (amd64, arm64).
func i32bytes(s []int32) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), 4*len(s))
}

func i64bytes(s []int64) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), 8*len(s))
}

func f64bytes(s []float64) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), 8*len(s))
}

// ReadFile loads a holdout for sp from path: an Arrow IPC file when it
// starts with Arrow's file magic, else a label CSV (see ImportCSV).
func ReadFile(sp spec.Spec, path string) (*Holdout, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read holdout: %w", err)
	}
	h, err := Parse(sp, data)
	if err != nil {
		return nil, fmt.Errorf("holdout %s: %w", path, err)
	}
	return h, nil
}

// Parse loads a holdout for sp from data: Arrow IPC when it starts with
// Arrow's file magic, else a label CSV (see ImportCSV).
func Parse(sp spec.Spec, data []byte) (*Holdout, error) {
	if IsArrow(data) {
		return ReadArrow(sp, data)
	}
	return ImportCSV(sp, data)
}
