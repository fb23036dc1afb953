package holdout_test

import (
	"bytes"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/engine/holdout"
	"github.com/medforge/medforge/engine/spec"
)

// writeBatches writes recs as one Arrow IPC file, as another tool would.
func writeBatches(t *testing.T, sc *arrow.Schema, recs ...arrow.RecordBatch) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := ipc.NewFileWriter(&buf, ipc.WithSchema(sc))
	require.NoError(t, err)
	for _, r := range recs {
		require.NoError(t, w.Write(r))
	}
	require.NoError(t, w.Close())
	return buf.Bytes()
}

// TestReadArrowBatchesAndSlices reads files written by plain arrow-go in
// several batches, some of them slices (non-zero offsets), and checks they
// give the same holdout as the CSV import.
func TestReadArrowBatchesAndSlices(t *testing.T) {
	t.Parallel()
	mem := memory.NewGoAllocator()
	t.Run("rows", func(t *testing.T) {
		t.Parallel()
		sp, _ := spec.Builtin(spec.CIFAR)
		want, err := holdout.ImportCSV(sp, []byte("image_id,label\na,1\nbb,2\nccc,3\ndddd,4\n"))
		require.NoError(t, err)
		sc := arrow.NewSchema([]arrow.Field{{Name: "image_id", Type: arrow.BinaryTypes.String}, {Name: "label", Type: arrow.PrimitiveTypes.Int64}}, nil)
		ids := array.NewStringBuilder(mem)
		ids.AppendValues([]string{"x", "a", "bb", "ccc", "dddd"}, nil)
		labels := array.NewInt64Builder(mem)
		labels.AppendValues([]int64{9, 1, 2, 3, 4}, nil)
		full := array.NewRecordBatch(sc, []arrow.Array{ids.NewArray(), labels.NewArray()}, 5)
		// Batches: [a bb] from a slice starting at 1, then [ccc dddd].
		data := writeBatches(t, sc, full.NewSlice(1, 3), full.NewSlice(3, 5))
		got, err := holdout.ReadArrow(sp, data)
		require.NoError(t, err)
		require.Equal(t, want.Digest(), got.Digest())
		i, ok := got.Index().Lookup([]byte("ccc"))
		require.True(t, ok)
		require.Equal(t, 2, i)
	})
	t.Run("boxes", func(t *testing.T) {
		t.Parallel()
		sp, _ := spec.Builtin(spec.RSNA)
		want, err := holdout.ImportCSV(sp, []byte("patientId,x,y,width,height,Target\np1,1,2,3,4,1\np1,5,6,7,8,1\np2,,,,,0\np3,9,9,9,9,1\n"))
		require.NoError(t, err)
		sc := arrow.NewSchema([]arrow.Field{{Name: "patientId", Type: arrow.BinaryTypes.String}, {Name: "boxes", Type: arrow.ListOf(arrow.PrimitiveTypes.Float64)}}, nil)
		ids := array.NewStringBuilder(mem)
		ids.AppendValues([]string{"zz", "p1", "p2", "p3"}, nil)
		lb := array.NewListBuilder(mem, arrow.PrimitiveTypes.Float64)
		vb := lb.ValueBuilder().(*array.Float64Builder)
		for _, boxes := range [][]float64{{100, 100, 1, 1}, {1, 2, 3, 4, 5, 6, 7, 8}, {}, {9, 9, 9, 9}} {
			lb.Append(true)
			vb.AppendValues(boxes, nil)
		}
		full := array.NewRecordBatch(sc, []arrow.Array{ids.NewArray(), lb.NewArray()}, 4)
		for _, data := range [][]byte{
			writeBatches(t, sc, full.NewSlice(1, 4)),
			writeBatches(t, sc, full.NewSlice(1, 2), full.NewSlice(2, 3), full.NewSlice(3, 4)),
		} {
			got, err := holdout.ReadArrow(sp, data)
			require.NoError(t, err)
			require.Equal(t, want.Truth(), got.Truth())
			require.Equal(t, want.Digest(), got.Digest())
		}
	})
	t.Run("nulls refused", func(t *testing.T) {
		t.Parallel()
		sp, _ := spec.Builtin(spec.Titanic)
		sc := arrow.NewSchema([]arrow.Field{{Name: "PassengerId", Type: arrow.BinaryTypes.String, Nullable: true}, {Name: "Survived", Type: arrow.PrimitiveTypes.Int64}}, nil)
		ids := array.NewStringBuilder(mem)
		ids.AppendValues([]string{"1", ""}, []bool{true, false})
		v := array.NewInt64Builder(mem)
		v.AppendValues([]int64{0, 1}, nil)
		data := writeBatches(t, sc, array.NewRecordBatch(sc, []arrow.Array{ids.NewArray(), v.NewArray()}, 2))
		_, err := holdout.ReadArrow(sp, data)
		require.ErrorContains(t, err, "nulls")
	})
	t.Run("values checked", func(t *testing.T) {
		t.Parallel()
		sp, _ := spec.Builtin(spec.Titanic)
		sc := arrow.NewSchema([]arrow.Field{{Name: "PassengerId", Type: arrow.BinaryTypes.String}, {Name: "Survived", Type: arrow.PrimitiveTypes.Int64}}, nil)
		ids := array.NewStringBuilder(mem)
		ids.AppendValues([]string{"1", "1"}, nil)
		v := array.NewInt64Builder(mem)
		v.AppendValues([]int64{0, 7}, nil)
		data := writeBatches(t, sc, array.NewRecordBatch(sc, []arrow.Array{ids.NewArray(), v.NewArray()}, 2))
		_, err := holdout.ReadArrow(sp, data)
		require.ErrorContains(t, err, "unit 2: must be an integer in 0..1")
		require.ErrorContains(t, err, "unit 2: duplicate id, first seen at unit 1")
	})
}
