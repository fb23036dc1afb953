package abi

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func sampleInput() *Input {
	return &Input{
		Units: 3,
		Columns: []Column{
			{Name: "patientId", Role: Key, Type: Utf8, Offsets: []int32{0, 2, 2, 5}, Data: []byte("abcde")},
			{Name: "label", Role: Truth, Type: Int64, Int64: []int64{1, -2, math.MaxInt64}},
			{Name: "score", Role: Prediction, Type: Float64, Float64: []float64{0.5, math.Inf(1), -0}},
			{Name: "boxes", Role: Truth, Type: ListFloat64, Offsets: []int32{0, 4, 4, 8}, Float64: []float64{1, 2, 3, 4, 5, 6, 7, 8}},
		},
	}
}

func TestInputRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   *Input
	}{
		{"all types", sampleInput()},
		{"no columns", &Input{Units: 7}},
		{"odd offsets count last", &Input{Units: 2, Columns: []Column{
			{Name: "b", Role: Truth, Type: ListFloat64, Offsets: []int32{0, 1, 2}, Float64: []float64{1, 2}},
			{Name: "k", Role: Key, Type: Utf8, Offsets: []int32{0, 1, 3}, Data: []byte("abc")},
		}}},
		{"zero units", &Input{Units: 0, Columns: []Column{
			{Name: "k", Role: Key, Type: Utf8, Offsets: []int32{0}, Data: []byte{}},
			{Name: "t", Role: Truth, Type: Int64, Int64: []int64{}},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			buf, err := EncodeInput(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := EncodedInputSize(tt.in); n != len(buf) {
				t.Fatalf("EncodedInputSize %d, encoded %d", n, len(buf))
			}
			var w bytes.Buffer
			if n, err := WriteInput(&w, tt.in); err != nil || n != int64(len(buf)) || !bytes.Equal(w.Bytes(), buf) {
				t.Fatalf("WriteInput wrote %d bytes (%v), not EncodeInput's %d", n, err, len(buf))
			}
			got, err := DecodeInput(buf)
			if err != nil {
				t.Fatal(err)
			}
			again, err := EncodeInput(got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf, again) {
				t.Fatal("re-encoding the decoded input differs")
			}
			if got.Units != tt.in.Units || len(got.Columns) != len(tt.in.Columns) {
				t.Fatalf("got %d units %d columns", got.Units, len(got.Columns))
			}
		})
	}
	// Values survive exactly, including the sign of zero and infinities.
	buf, _ := EncodeInput(sampleInput())
	got, _ := DecodeInput(buf)
	if !reflect.DeepEqual(got.Columns[1].Int64, []int64{1, -2, math.MaxInt64}) ||
		!math.IsInf(got.Columns[2].Float64[1], 1) || string(got.Columns[0].Data) != "abcde" ||
		!reflect.DeepEqual(got.Columns[3].Offsets, []int32{0, 4, 4, 8}) {
		t.Fatalf("values changed: %+v", got.Columns)
	}
}

func TestDecodeInputUnaligned(t *testing.T) {
	t.Parallel()
	buf, _ := EncodeInput(sampleInput())
	shifted := make([]byte, len(buf)+1)[1:]
	copy(shifted, buf)
	got, err := DecodeInput(shifted)
	if err != nil {
		t.Fatal(err)
	}
	if got.Columns[1].Int64[2] != math.MaxInt64 {
		t.Fatal("unaligned decode lost a value")
	}
}

func TestInputValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   Input
		want string
	}{
		{"negative units", Input{Units: -1}, "units out of range"},
		{"empty name", Input{Units: 0, Columns: []Column{{Role: Key, Type: Int64}}}, "name"},
		{"long name", Input{Columns: []Column{{Name: strings.Repeat("x", 65), Role: Key, Type: Int64}}}, "name"},
		{"bad role", Input{Columns: []Column{{Name: "a", Role: 9, Type: Int64}}}, "unknown role"},
		{"bad type", Input{Columns: []Column{{Name: "a", Role: Key, Type: 9}}}, "unknown type"},
		{"short int64", Input{Units: 2, Columns: []Column{{Name: "a", Role: Key, Type: Int64, Int64: []int64{1}}}}, "exactly Units"},
		{"extra buffer", Input{Units: 1, Columns: []Column{{Name: "a", Role: Key, Type: Int64, Int64: []int64{1}, Data: []byte{1}}}}, "exactly Units"},
		{"offsets count", Input{Units: 2, Columns: []Column{{Name: "a", Role: Key, Type: Utf8, Offsets: []int32{0, 1}, Data: []byte{1}}}}, "units+1"},
		{"offsets start", Input{Units: 1, Columns: []Column{{Name: "a", Role: Key, Type: Utf8, Offsets: []int32{1, 1}, Data: []byte{1}}}}, "not 0"},
		{"offsets decrease", Input{Units: 2, Columns: []Column{{Name: "a", Role: Key, Type: Utf8, Offsets: []int32{0, 2, 1}, Data: []byte{1}}}}, "decrease"},
		{"offsets end", Input{Units: 1, Columns: []Column{{Name: "a", Role: Truth, Type: ListFloat64, Offsets: []int32{0, 3}, Float64: []float64{1}}}}, "last offset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.in.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
			if _, err := EncodeInput(&tt.in); err == nil {
				t.Fatal("EncodeInput accepted an invalid input")
			}
		})
	}
}

func TestDecodeInputMalformed(t *testing.T) {
	t.Parallel()
	good, _ := EncodeInput(sampleInput())
	mut := func(f func(b []byte) []byte) []byte {
		b := append([]byte(nil), good...)
		return f(b)
	}
	desc := func(col, field int) int { return inputHeaderSize + columnDescSize*col + field }
	tests := []struct {
		name string
		buf  []byte
	}{
		{"empty", nil},
		{"short", good[:10]},
		{"bad magic", mut(func(b []byte) []byte { b[0] = 'X'; return b })},
		{"major 2", mut(func(b []byte) []byte { le.PutUint16(b[4:], 2); return b })},
		{"too many columns", mut(func(b []byte) []byte { le.PutUint32(b[12:], 1000); return b })},
		{"columns past end", mut(func(b []byte) []byte { return b[:inputHeaderSize+columnDescSize] })},
		{"units too many", mut(func(b []byte) []byte { le.PutUint32(b[8:], 4); return b })},
		{"units huge", mut(func(b []byte) []byte { le.PutUint32(b[8:], math.MaxUint32); return b })},
		{"reserved set", mut(func(b []byte) []byte { b[desc(0, 2)] = 1; return b })},
		{"name out of range", mut(func(b []byte) []byte { le.PutUint32(b[desc(0, 4):], uint32(len(b))); return b })},
		{"values unaligned", mut(func(b []byte) []byte { le.PutUint32(b[desc(1, 20):], le.Uint32(b[desc(1, 20):])+1); return b })},
		{"values overflow", mut(func(b []byte) []byte { le.PutUint32(b[desc(1, 24):], math.MaxUint32); return b })},
		{"int64 with offsets", mut(func(b []byte) []byte { copy(b[desc(1, 12):], b[desc(0, 12):desc(0, 20)]); return b })},
		{"unknown type", mut(func(b []byte) []byte { b[desc(1, 0)] = 77; return b })},
		{"unknown role", mut(func(b []byte) []byte { b[desc(1, 1)] = 0; return b })},
		{"offset decreases", mut(func(b []byte) []byte {
			off := le.Uint32(b[desc(0, 12):])
			le.PutUint32(b[off+4:], 4)
			return b
		})},
		{"list values not whole floats", mut(func(b []byte) []byte { le.PutUint32(b[desc(3, 24):], 60); return b })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeInput(tt.buf)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeInput() = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestOutputRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		r     Result
		units int
	}{
		{"primary only", Result{Primary: 0.75}, 4},
		{"secondary", Result{Primary: 1, Secondary: []Named{{"tp", 3}, {"fp", 0}}}, 0},
		{"per unit with NaN", Result{Primary: 0.5, PerUnit: []float64{1, math.NaN(), 0}}, 3},
		{"empty per unit", Result{Primary: 1, PerUnit: []float64{}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			buf, err := EncodeResult(&tt.r, tt.units)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeOutput(buf, tt.units)
			if err != nil {
				t.Fatal(err)
			}
			if got.Primary != tt.r.Primary || len(got.Secondary) != len(tt.r.Secondary) || len(got.PerUnit) != len(tt.r.PerUnit) {
				t.Fatalf("got %+v want %+v", got, tt.r)
			}
			for i := range got.PerUnit {
				if math.Float64bits(got.PerUnit[i]) != math.Float64bits(tt.r.PerUnit[i]) {
					t.Fatalf("per-unit %d: %v", i, got.PerUnit[i])
				}
			}
			if !reflect.DeepEqual(got.Secondary, tt.r.Secondary) {
				t.Fatalf("secondary %v", got.Secondary)
			}
		})
	}
}

func TestEncodeResultRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		r    Result
	}{
		{"NaN primary", Result{Primary: math.NaN()}},
		{"infinite primary", Result{Primary: math.Inf(-1)}},
		{"duplicate secondary", Result{Secondary: []Named{{"a", 1}, {"a", 2}}}},
		{"empty secondary name", Result{Secondary: []Named{{"", 1}}}},
		{"NaN secondary", Result{Secondary: []Named{{"a", math.NaN()}}}},
		{"per unit count", Result{PerUnit: []float64{1}}},
		{"infinite per unit", Result{PerUnit: []float64{1, math.Inf(1)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := EncodeResult(&tt.r, 2); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestGuestErrorRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		e    GuestError
		want string
	}{
		{"public", GuestError{Public: true, Message: "bad submission"}, "bad submission"},
		{"internal", GuestError{Message: "truth 3 vs 4"}, "truth 3 vs 4"},
		{"invalid utf8 replaced", GuestError{Message: "a\xffb"}, "a\uFFFDb"},
		{"truncated", GuestError{Message: strings.Repeat("é", MaxErrorMessage)}, strings.Repeat("é", MaxErrorMessage/2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeOutput(EncodeError(&tt.e), 1)
			var ge *GuestError
			if !errors.As(err, &ge) {
				t.Fatalf("DecodeOutput() = %v, want *GuestError", err)
			}
			if ge.Public != tt.e.Public || ge.Message != tt.want {
				t.Fatalf("got %+v", ge)
			}
		})
	}
}

func TestDecodeOutputMalformed(t *testing.T) {
	t.Parallel()
	good, _ := EncodeResult(&Result{Primary: 0.5, Secondary: []Named{{"n", 1}}, PerUnit: []float64{1, 0}}, 2)
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	goodErr := EncodeError(&GuestError{Message: "x"})
	tests := []struct {
		name  string
		buf   []byte
		units int
	}{
		{"empty", nil, 2},
		{"unknown magic", []byte("ABCD1234"), 2},
		{"short header", good[:20], 2},
		{"wrong unit count", good, 3},
		{"unknown flag", mut(func(b []byte) []byte { b[4] |= 2; return b }), 2},
		{"per unit without flag", mut(func(b []byte) []byte { b[4] = 0; return b }), 2},
		{"trailing byte", append(append([]byte(nil), good...), 0), 2},
		{"truncated secondary", good[:len(good)-1], 2},
		{"secondary count huge", mut(func(b []byte) []byte { le.PutUint32(b[16:], 65); return b }), 2},
		{"secondary count past end", mut(func(b []byte) []byte { le.PutUint32(b[16:], 2); return b }), 2},
		{"NaN primary", mut(func(b []byte) []byte { le.PutUint64(b[8:], math.Float64bits(math.NaN())); return b }), 2},
		{"per unit count huge", mut(func(b []byte) []byte { le.PutUint32(b[20:], math.MaxUint32); return b }), math.MaxInt32},
		{"error short", goodErr[:8], 2},
		{"error length mismatch", append(append([]byte(nil), goodErr...), 'y'), 2},
		{"error flags", func() []byte { b := append([]byte(nil), goodErr...); b[4] = 4; return b }(), 2},
		{"error not utf8", func() []byte { b := append([]byte(nil), goodErr...); b[12] = 0xff; return b }(), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeOutput(tt.buf, tt.units)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeOutput() = %v, want ErrMalformed", err)
			}
		})
	}
}

func FuzzDecodeInput(f *testing.F) {
	good, _ := EncodeInput(sampleInput())
	f.Add(good)
	empty, _ := EncodeInput(&Input{Units: 2})
	f.Add(empty)
	f.Add([]byte("MFI1"))
	f.Fuzz(func(t *testing.T, buf []byte) {
		in, err := DecodeInput(buf)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		again, err := EncodeInput(in)
		if err != nil {
			t.Fatalf("decoded input does not encode: %v", err)
		}
		back, err := DecodeInput(again)
		if err != nil || back.Units != in.Units || len(back.Columns) != len(in.Columns) {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

func FuzzDecodeTrustedInput(f *testing.F) {
	good, _ := EncodeInput(sampleInput())
	f.Add(good)
	f.Add([]byte("MFI1"))
	f.Fuzz(func(t *testing.T, buf []byte) {
		in, err := DecodeTrustedInput(buf)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		// Whatever it accepts, the strict decoder accepts too or rejects
		// only for decreasing offsets.
		if _, err := DecodeInput(buf); err != nil && !strings.Contains(err.Error(), "decrease") {
			t.Fatalf("trusted decode accepted what the strict one rejects for: %v", err)
		}
		for _, c := range in.Columns {
			if c.Offsets != nil && (c.Offsets[0] != 0 || len(c.Offsets) != in.Units+1) {
				t.Fatal("offsets not checked at the ends")
			}
		}
	})
}

func FuzzDecodeOutput(f *testing.F) {
	good, _ := EncodeResult(&Result{Primary: 0.5, Secondary: []Named{{"n", 1}}, PerUnit: []float64{1, math.NaN()}}, 2)
	f.Add(good, 2)
	f.Add(EncodeError(&GuestError{Public: true, Message: "bad"}), 0)
	f.Add([]byte("MFR1"), 0)
	f.Fuzz(func(t *testing.T, buf []byte, units int) {
		if units < 0 || units > 1<<20 {
			return
		}
		r, err := DecodeOutput(buf, units)
		if err != nil {
			var ge *GuestError
			if !errors.Is(err, ErrMalformed) && !errors.As(err, &ge) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		if err := CheckResult(r, units); err != nil {
			t.Fatalf("decoded result fails CheckResult: %v", err)
		}
		if _, err := EncodeResult(r, units); err != nil {
			t.Fatalf("decoded result does not encode: %v", err)
		}
	})
}

func TestNewResultEncodesInPlace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		units   int
		sec     []Named
		replace bool
		inPlace bool
	}{
		{"in place", 3, []Named{{"correct", 2}}, false, true},
		{"no secondary", 5, nil, false, true},
		{"secondaries overflow the spare room", 2, func() []Named {
			var out []Named
			for i := range 40 {
				out = append(out, Named{Name: strings.Repeat("s", 20) + string(rune('A'+i)), Value: 1})
			}
			return out
		}(), false, false},
		{"replaced per-unit slice", 2, nil, true, false},
		{"zero units", 0, nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := NewResult(tt.units)
			for i := range r.PerUnit {
				r.PerUnit[i] = float64(i) / 2
			}
			if tt.replace {
				r.PerUnit = []float64{7, 8}
			}
			r.Primary, r.Secondary = 0.25, tt.sec
			got, err := EncodeResult(r, tt.units)
			if err != nil {
				t.Fatal(err)
			}
			plain := *r
			plain.wire = nil
			want, _ := EncodeResult(&plain, tt.units)
			if !bytes.Equal(got, want) {
				t.Fatal("in-place encoding differs from the copying one")
			}
			same := len(got) > 0 && r.wire != nil && &got[0] == &r.wire[0]
			if same != tt.inPlace {
				t.Fatalf("encoded in place = %v, want %v", same, tt.inPlace)
			}
		})
	}
}

func TestDecodeTrustedInput(t *testing.T) {
	t.Parallel()
	good, _ := EncodeInput(sampleInput())
	if _, err := DecodeTrustedInput(good); err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), good...)
	off := le.Uint32(bad[inputHeaderSize+12:])
	le.PutUint32(bad[off+4:], 4) // offsets 0,4,2,5: decreasing in the middle
	if _, err := DecodeInput(bad); !errors.Is(err, ErrMalformed) {
		t.Fatalf("strict decode = %v", err)
	}
	if _, err := DecodeTrustedInput(bad); err != nil {
		t.Fatalf("trusted decode = %v, want it to skip the O(n) check", err)
	}
	short := append([]byte(nil), good...)
	le.PutUint32(short[inputHeaderSize+32+24:], 16) // int64 column too short
	if _, err := DecodeTrustedInput(short); !errors.Is(err, ErrMalformed) {
		t.Fatalf("trusted decode of a short buffer = %v", err)
	}
}
