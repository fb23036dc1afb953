package holdout

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/engine/spec"
)

// Schema metadata keys written to every holdout file.
const (
	metaFormat  = "medforge.holdout"
	metaVersion = "1"
	metaLayout  = "medforge.layout"
)

// schema returns the Arrow schema of sp's holdout files.
func schema(sp spec.Spec) *arrow.Schema {
	fields := []arrow.Field{{Name: sp.ID, Type: arrow.BinaryTypes.String}}
	for _, c := range wantTruth(sp) {
		var t arrow.DataType
		switch c.Type {
		case abi.Int64:
			t = arrow.PrimitiveTypes.Int64
		case abi.Float64:
			t = arrow.PrimitiveTypes.Float64
		case abi.ListFloat64:
			t = arrow.ListOf(arrow.PrimitiveTypes.Float64)
		}
		fields = append(fields, arrow.Field{Name: c.Name, Type: t})
	}
	md := arrow.NewMetadata([]string{metaFormat, metaLayout}, []string{metaVersion, string(sp.Layout)})
	return arrow.NewSchema(fields, &md)
}

// WriteArrow writes the holdout as an Arrow IPC file (one record batch,
// uncompressed, so that ReadArrow can use it without copying).
func (h *Holdout) WriteArrow(w io.Writer) error {
	sc := schema(h.spec)
	n := int64(h.Units())
	cols := make([]arrow.Array, 0, 1+len(h.truth))
	key := array.NewData(arrow.BinaryTypes.String, int(n),
		[]*memory.Buffer{nil, memory.NewBufferBytes(i32bytes(h.key.Offsets)), memory.NewBufferBytes(h.key.Data)}, nil, 0, 0)
	cols = append(cols, array.MakeFromData(key))
	for _, c := range h.truth {
		var d arrow.ArrayData
		switch c.Type {
		case abi.Int64:
			d = array.NewData(arrow.PrimitiveTypes.Int64, int(n), []*memory.Buffer{nil, memory.NewBufferBytes(i64bytes(c.Int64))}, nil, 0, 0)
		case abi.Float64:
			d = array.NewData(arrow.PrimitiveTypes.Float64, int(n), []*memory.Buffer{nil, memory.NewBufferBytes(f64bytes(c.Float64))}, nil, 0, 0)
		case abi.ListFloat64:
			child := array.NewData(arrow.PrimitiveTypes.Float64, len(c.Float64), []*memory.Buffer{nil, memory.NewBufferBytes(f64bytes(c.Float64))}, nil, 0, 0)
			d = array.NewData(arrow.ListOf(arrow.PrimitiveTypes.Float64), int(n),
				[]*memory.Buffer{nil, memory.NewBufferBytes(i32bytes(c.Offsets))}, []arrow.ArrayData{child}, 0, 0)
		}
		cols = append(cols, array.MakeFromData(d))
	}
	rec := array.NewRecordBatch(sc, cols, n)
	fw, err := ipc.NewFileWriter(w, ipc.WithSchema(sc))
	if err != nil {
		return fmt.Errorf("write holdout: %w", err)
	}
	if err := fw.Write(rec); err != nil {
		return fmt.Errorf("write holdout: %w", err)
	}
	if err := fw.Close(); err != nil {
		return fmt.Errorf("write holdout: %w", err)
	}
	return nil
}

// ReadArrow reads a holdout for sp from the bytes of an Arrow IPC file. The
// schema must be exactly sp's (id utf8, then the truth columns by name and
// type) without nulls; values are checked as ImportCSV checks them. The
// holdout's buffers alias data when the file has one batch: the caller must
// not modify data afterwards. A malformed file is an error, never a panic.
func ReadArrow(sp spec.Spec, data []byte) (h *Holdout, err error) {
	if err := sp.Validate(); err != nil {
		return nil, err
	}
	defer func() {
		if p := recover(); p != nil {
			h, err = nil, fmt.Errorf("malformed arrow file: %v", p)
		}
	}()
	fr, err := ipc.NewMappedFileReader(data)
	if err != nil {
		// Streams and files with trailing bytes are not accepted.
		return nil, fmt.Errorf("not an arrow IPC file: %w", err)
	}
	defer fr.Close()
	want := schema(sp)
	got := fr.Schema()
	if got.NumFields() != want.NumFields() {
		return nil, fmt.Errorf("arrow schema has %d fields, spec %q wants %d (%s)", got.NumFields(), sp.Slug, want.NumFields(), want)
	}
	for i, f := range want.Fields() {
		g := got.Field(i)
		if g.Name != f.Name || !arrow.TypeEqual(g.Type, f.Type) {
			return nil, fmt.Errorf("arrow field %d is %s: %s, spec %q wants %s: %s", i+1, g.Name, g.Type, sp.Slug, f.Name, f.Type)
		}
	}
	truth := wantTruth(sp)
	key := abi.Column{Offsets: []int32{0}}
	batches := fr.NumRecords()
	for b := 0; b < batches; b++ {
		rec, err := fr.RecordBatch(b)
		if err != nil {
			return nil, fmt.Errorf("arrow batch %d: %w", b, err)
		}
		for i := 0; i < int(rec.NumCols()); i++ {
			if rec.Column(i).NullN() > 0 {
				return nil, fmt.Errorf("arrow column %q has nulls", rec.ColumnName(i))
			}
		}
		ks, ok := rec.Column(0).(*array.String)
		if !ok {
			return nil, errors.New("arrow id column is not utf8")
		}
		offs, vals := ks.ValueOffsets(), ks.ValueBytes()
		key.Offsets, key.Data = appendOffsets(key.Offsets, offs, batches == 1), appendBytes(key.Data, vals, batches == 1)
		for c := range truth {
			col := rec.Column(c + 1)
			switch a := col.(type) {
			case *array.Int64:
				truth[c].Int64 = appendT(truth[c].Int64, a.Int64Values(), batches == 1)
			case *array.Float64:
				truth[c].Float64 = appendT(truth[c].Float64, a.Float64Values(), batches == 1)
			case *array.List:
				lo := a.Offsets()[a.Offset() : a.Offset()+a.Len()+1]
				child, ok := a.ListValues().(*array.Float64)
				if !ok || child.NullN() > 0 {
					return nil, fmt.Errorf("arrow column %q: list values must be float64 without nulls", truth[c].Name)
				}
				cv := child.Float64Values()
				if int(lo[0]) < 0 || int(lo[len(lo)-1]) > len(cv) || lo[0] > lo[len(lo)-1] {
					return nil, fmt.Errorf("arrow column %q: list offsets out of range", truth[c].Name)
				}
				if len(truth[c].Offsets) == 0 {
					truth[c].Offsets = []int32{0}
				}
				truth[c].Offsets = appendOffsets(truth[c].Offsets, lo, batches == 1)
				truth[c].Float64 = appendT(truth[c].Float64, cv[lo[0]:lo[len(lo)-1]], batches == 1)
			default:
				return nil, fmt.Errorf("arrow column %q has an unexpected type", truth[c].Name)
			}
		}
	}
	for c := range truth {
		if truth[c].Type == abi.ListFloat64 && len(truth[c].Offsets) == 0 {
			truth[c].Offsets = []int32{0}
		}
	}
	return build(sp, key, truth, nil)
}

// appendOffsets appends a batch's offsets (n+1 entries starting anywhere)
// to dst (ending at the running total), rebased. With alias set and dst
// still the initial {0}, a batch whose offsets already start at 0 is used
// as it is.
func appendOffsets(dst, src []int32, alias bool) []int32 {
	if len(src) == 0 {
		return dst
	}
	if alias && len(dst) == 1 && src[0] == 0 {
		return src
	}
	base := dst[len(dst)-1] - src[0]
	for _, o := range src[1:] {
		dst = append(dst, o+base)
	}
	return dst
}

func appendBytes(dst, src []byte, alias bool) []byte {
	if alias && len(dst) == 0 {
		return src
	}
	return append(dst, src...)
}

func appendT[T int64 | float64](dst, src []T, alias bool) []T {
	if alias && len(dst) == 0 {
		return src
	}
	return append(dst, src...)
}

// IsArrow reports whether data starts with the Arrow IPC file magic.
func IsArrow(data []byte) bool { return bytes.HasPrefix(data, []byte("ARROW1")) }
