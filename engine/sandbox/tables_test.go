package sandbox

import (
	"bytes"
	"strings"
	"testing"
)

// tableModule is a module header plus one table section holding sec.
func tableModule(sec ...byte) []byte {
	return append([]byte("\x00asm\x01\x00\x00\x00\x04"), append([]byte{byte(len(sec))}, sec...)...)
}

func TestBoundTables(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want []byte // nil: unchanged
		err  string
	}{
		{name: "not wasm is left to the compiler", in: []byte("#!/bin/sh")},
		{name: "no tables", in: []byte("\x00asm\x01\x00\x00\x00")},
		{name: "bounded table kept", in: tableModule(1, 0x70, 1, 2, 3)},
		{name: "no max gets the limit", in: tableModule(1, 0x70, 0, 5), want: tableModule(1, 0x70, 1, 5, 0x80, 0x01)},
		{name: "max over limit clamped", in: tableModule(1, 0x6f, 1, 0, 0xff, 0xff, 0x03), want: tableModule(1, 0x6f, 1, 0, 0x80, 0x01)},
		{name: "initial size over limit", in: tableModule(1, 0x70, 0, 0x81, 0x01), err: "table 0 starts with 129 elements, over the limit of 128"},
		{name: "second table named", in: tableModule(2, 0x70, 1, 1, 1, 0x70, 0, 0xff, 0x01), err: "table 1 starts with 255"},
		{name: "unknown element type", in: tableModule(1, 0x7f, 0, 0), err: "table 0: unknown element type 0x7f"},
		{name: "64-bit table", in: tableModule(1, 0x70, 4, 0), err: "limits flag 0x4 is not supported"},
		{name: "truncated table", in: tableModule(1, 0x70), err: "table 0: truncated"},
		{name: "overlong LEB", in: tableModule(1, 0x70, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01), err: "integer too long"},
		{name: "32-bit overflow", in: tableModule(1, 0x70, 0, 0xff, 0xff, 0xff, 0xff, 0x7f), err: "integer too large"},
		{name: "trailing bytes", in: tableModule(0, 9), err: "1 unexpected bytes after 0 tables"},
		{name: "section past end", in: []byte("\x00asm\x01\x00\x00\x00\x04\x10\x01"), err: "run past the end"},
		{name: "imported table", in: append([]byte("\x00asm\x01\x00\x00\x00\x02\x08"), 1, 1, 'e', 1, 't', 1, 0x70, 0), err: "import e.t is not allowed"},
		{name: "imported function fine", in: append([]byte("\x00asm\x01\x00\x00\x00\x02\x07"), 1, 1, 'e', 1, 'f', 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := bytes.Clone(tt.in)
			got, err := boundTables(tt.in, 128)
			if !bytes.Equal(tt.in, orig) {
				t.Fatal("input modified")
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want == nil {
				want = tt.in
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got % x\nwant % x", got, want)
			}
		})
	}
}

// FuzzBoundTables: any bytes give an error or a module whose tables are all
// bounded (a second pass changes nothing), never a panic.
func FuzzBoundTables(f *testing.F) {
	f.Add(tableModule(1, 0x70, 0, 5))
	f.Add(tableModule(2, 0x70, 1, 1, 1, 0x6f, 0, 3))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x02\x07\x01\x01e\x01f\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := boundTables(b, 128)
		if err != nil {
			return
		}
		again, err := boundTables(out, 128)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("second pass: %v, changed %v", err, !bytes.Equal(again, out))
		}
	})
}
