package holdout_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/engine/holdout"
	"github.com/medforge/medforge/engine/spec"
	"github.com/medforge/medforge/engine/strictcsv"
)

func builtin(t testing.TB, slug string) spec.Spec {
	t.Helper()
	s, ok := spec.Builtin(slug)
	require.True(t, ok)
	return s
}

func TestImportRows(t *testing.T) {
	t.Parallel()
	sp := builtin(t, spec.Titanic)
	h, err := holdout.ImportCSV(sp, []byte("Survived,PassengerId\r\n1,892\r\n0,893\r\n1,894\r\n"))
	require.NoError(t, err)
	require.Equal(t, 3, h.Units())
	require.Equal(t, "893", string(h.ID(1)))
	require.Equal(t, []int64{1, 0, 1}, h.Truth()[0].Int64)
	require.Equal(t, abi.Key, h.Key().Role)
	i, ok := h.Index().Lookup([]byte("894"))
	require.True(t, ok)
	require.Equal(t, 2, i)
	for _, miss := range []string{"0894", "895", "", "-1", "x"} {
		_, ok := h.Index().Lookup([]byte(miss))
		require.False(t, ok, miss)
	}
}

func TestImportBoxRows(t *testing.T) {
	t.Parallel()
	sp := builtin(t, spec.RSNA)
	in := "patientId,x,y,width,height,Target\n" +
		"a,10,20,30,40,1\n" +
		"b,,,,,0\n" +
		"c,1,2,3,4,1\n" +
		"a,5,5,5.5,5,1\n"
	h, err := holdout.ImportCSV(sp, []byte(in))
	require.NoError(t, err)
	require.Equal(t, 3, h.Units())
	b := h.Truth()[0]
	require.Equal(t, abi.ListFloat64, b.Type)
	require.Equal(t, []int32{0, 8, 8, 12}, b.Offsets)
	require.Equal(t, []float64{10, 20, 30, 40, 5, 5, 5.5, 5, 1, 2, 3, 4}, b.Float64)
	require.Equal(t, "c", string(h.ID(2)))
}

func TestImportInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		slug string
		in   string
		want []string
	}{
		{"header only", spec.Titanic, "PassengerId,Survived\n", []string{"header but no rows"}},
		{"missing column", spec.Titanic, "PassengerId\n1\n", []string{`column "Survived": required column is missing`}},
		{"out of range", spec.Titanic, "PassengerId,Survived\n1,2\n2,x\n", []string{`row 2, column "Survived", value "2": must be an integer in 0..1`, `row 3, column "Survived", value "x"`}},
		{"duplicate id", spec.Titanic, "PassengerId,Survived\n1,0\n2,0\n1,1\n", []string{`row 4, column "PassengerId", value "1": duplicate id, first seen at row 2`}},
		{"duplicate id hash mode", spec.CIFAR, "image_id,label\nx,0\ny,0\nx,1\n", []string{`row 4, column "image_id", value "x": duplicate id, first seen at row 2`}},
		{"empty id", spec.CIFAR, "image_id,label\n,0\n", []string{`row 2, column "image_id": id is empty`}},
		{"target", spec.RSNA, "patientId,x,y,width,height,Target\na,,,,,2\n", []string{`row 2, column "Target", value "2": must be 0 or 1`}},
		{"box on target 0", spec.RSNA, "patientId,x,y,width,height,Target\na,1,,,,0\n", []string{`row 2, column "x", value "1": must be empty when Target is 0`}},
		{"missing box value", spec.RSNA, "patientId,x,y,width,height,Target\na,1,2,,4,1\n", []string{`row 2, column "width", value "": must be a finite decimal number`}},
		{"zero width", spec.RSNA, "patientId,x,y,width,height,Target\na,1,2,0,4,1\n", []string{`row 2, column "width", value "0": box width and height must be positive`}},
		{"target 0 twice", spec.RSNA, "patientId,x,y,width,height,Target\na,,,,,0\na,,,,,0\n", []string{`row 3, column "patientId", value "a": a Target=0 row must be the only row of its id; row 2`}},
		{"box after target 0", spec.RSNA, "patientId,x,y,width,height,Target\na,,,,,0\na,1,1,1,1,1\n", []string{`row 3, column "patientId", value "a": id already has a Target=0 row (row 2)`}},
		{"target 0 after box", spec.RSNA, "patientId,x,y,width,height,Target\na,1,1,1,1,1\na,,,,,0\n", []string{`row 3, column "patientId", value "a": a Target=0 row must be the only row`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := holdout.ImportCSV(builtin(t, tc.slug), []byte(tc.in))
			var ie *strictcsv.InvalidError
			require.True(t, errors.As(err, &ie), "%v", err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestArrowRoundTrip(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		spec.Titanic: "PassengerId,Survived\n892,1\n893,0\n",
		spec.CIFAR:   "image_id,label\nimg-1,99\nimg-2,0\nimg-3,7\n",
		spec.RSNA:    "patientId,x,y,width,height,Target\na,10,20,30,40,1\nb,,,,,0\na,1,2,3,4,1\n",
	}
	for slug, in := range cases {
		t.Run(slug, func(t *testing.T) {
			t.Parallel()
			sp := builtin(t, slug)
			h, err := holdout.ImportCSV(sp, []byte(in))
			require.NoError(t, err)
			var buf bytes.Buffer
			require.NoError(t, h.WriteArrow(&buf))
			path := filepath.Join(t.TempDir(), "h.arrow")
			require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
			h2, err := holdout.ReadFile(sp, path)
			require.NoError(t, err)
			require.Equal(t, h.Digest(), h2.Digest())
			require.Equal(t, h.Key().Data, h2.Key().Data)
			require.Equal(t, h.Key().Offsets, h2.Key().Offsets)
			require.Equal(t, h.Truth(), h2.Truth())
			require.True(t, strings.HasPrefix(h.Digest(), "sha256:"))
			// Another competition's spec refuses the file.
			other := builtin(t, spec.RSNA)
			if slug == spec.RSNA {
				other = builtin(t, spec.Titanic)
			}
			_, err = holdout.ReadArrow(other, buf.Bytes())
			require.ErrorContains(t, err, "arrow")
		})
	}
}

func TestDigestDependsOnContent(t *testing.T) {
	t.Parallel()
	sp := builtin(t, spec.Titanic)
	a, err := holdout.ImportCSV(sp, []byte("PassengerId,Survived\n1,1\n2,0\n"))
	require.NoError(t, err)
	b, err := holdout.ImportCSV(sp, []byte("Survived,PassengerId\r\n1,1\r\n0,2\r\n"))
	require.NoError(t, err)
	c, err := holdout.ImportCSV(sp, []byte("PassengerId,Survived\n1,1\n2,1\n"))
	require.NoError(t, err)
	require.Equal(t, a.Digest(), b.Digest())
	require.NotEqual(t, a.Digest(), c.Digest())
}

func TestReadArrowMalformed(t *testing.T) {
	t.Parallel()
	sp := builtin(t, spec.Titanic)
	h, err := holdout.ImportCSV(sp, []byte("PassengerId,Survived\n1,1\n2,0\n"))
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, h.WriteArrow(&buf))
	good := buf.Bytes()
	for i := 0; i < len(good); i += 7 {
		bad := append([]byte(nil), good...)
		bad[i] ^= 0xff
		_, _ = holdout.ReadArrow(sp, bad) // must not panic
	}
	_, err = holdout.ReadArrow(sp, []byte("not arrow"))
	require.Error(t, err)
}

func TestIndexModes(t *testing.T) {
	t.Parallel()
	sp := builtin(t, spec.CIFAR)
	for _, ids := range [][]string{
		{"5", "3", "1000000", "4"}, // sparse integers: hash mode
		{"10", "11", "12", "13"},   // dense
		{"a", "b", "0", "00"},      // strings
		{"-3", "-2", "-1", "0"},    // negative dense
	} {
		var b strings.Builder
		b.WriteString("image_id,label\n")
		for _, id := range ids {
			fmt.Fprintf(&b, "%s,1\n", id)
		}
		h, err := holdout.ImportCSV(sp, []byte(b.String()))
		require.NoError(t, err)
		for i, id := range ids {
			got, ok := h.Index().Lookup([]byte(id))
			require.True(t, ok, id)
			require.Equal(t, i, got)
		}
		for _, miss := range []string{"6", "14", "-0", "000", "c", "9"} {
			_, ok := h.Index().Lookup([]byte(miss))
			require.False(t, ok, "%v %s", ids, miss)
		}
	}
}

// FuzzImportCSV checks that holdout import never panics and that what it
// accepts survives an Arrow round trip unchanged.
func FuzzImportCSV(f *testing.F) {
	f.Add(uint8(0), []byte("PassengerId,Survived\n1,0\n2,1\n"))
	f.Add(uint8(1), []byte("image_id,label\na,5\n"))
	f.Add(uint8(2), []byte("patientId,x,y,width,height,Target\na,1,2,3,4,1\nb,,,,,0\na,1,1,1,1,1\n"))
	slugs := spec.BuiltinSlugs()
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		sp, _ := spec.Builtin(slugs[int(which)%len(slugs)])
		h, err := holdout.ImportCSV(sp, data)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := h.WriteArrow(&buf); err != nil {
			t.Fatal(err)
		}
		h2, err := holdout.ReadArrow(sp, buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if h.Digest() != h2.Digest() {
			t.Fatal("digest changed over an arrow round trip")
		}
	})
}
