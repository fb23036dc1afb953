package wasminfo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mod assembles a binary from raw sections.
func mod(sections ...[]byte) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	for _, s := range sections {
		b = append(b, s...)
	}
	return b
}

func TestReadDeclarations(t *testing.T) {
	imp := []byte{2, 0x16, 1, // import section, 22 bytes, 1 import
		0x16}
	imp = append(imp, "wasi_snapshot_preview1"...)
	imp = append(imp, 0x08)
	imp = append(imp, "fd_write"...)
	imp = append(imp, 0x00, 0x00)
	imp[1] = byte(len(imp) - 2)
	memSec := []byte{5, 4, 1, 1, 2, 17} // one memory, min 2, max 17
	expSec := []byte{7, 10, 1, 6, 'm', 'e', 'm', 'o', 'r', 'y', 2, 0}
	expSec[1] = byte(len(expSec) - 2)
	custom := []byte{0, 3, 1, 'x', 9} // a custom section is skipped
	info, err := Read(mod(custom, imp, memSec, expSec))
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Imports) != 1 || info.Imports[0] != (Import{"wasi_snapshot_preview1", "fd_write", "func"}) {
		t.Fatalf("imports %+v", info.Imports)
	}
	if len(info.Memories) != 1 || info.Memories[0].MinPages != 2 || info.Memories[0].MaxPages == nil || *info.Memories[0].MaxPages != 17 {
		t.Fatalf("memories %+v", info.Memories)
	}
	if len(info.Exports) != 1 || info.Exports[0] != "memory" {
		t.Fatalf("exports %+v", info.Exports)
	}
}

func TestReadRefusesMalformed(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "magic"},
		{"not wasm", []byte("hello world!"), "magic"},
		{"version 2", []byte("\x00asm\x02\x00\x00\x00"), "version"},
		{"section past end", mod([]byte{2, 100, 1}), "runs past the end"},
		{"huge vector", mod([]byte{2, 5, 0xff, 0xff, 0xff, 0xff, 0x0f}), "vector of"},
		{"leb too long", mod([]byte{5, 6, 1, 0, 0x80, 0x80, 0x80, 0x80}), "malformed"},
		{"bad limits", mod([]byte{5, 3, 1, 9, 1}), "limits flags"},
		{"bad import kind", mod([]byte{2, 4, 1, 0, 0, 9}), "import kind"},
		{"name not utf8", mod([]byte{7, 5, 1, 2, 0xff, 0xfe, 0}), "UTF-8"},
		{"truncated section header", mod([]byte{2}), "unexpected end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// A built module (make scorers) reads cleanly when one is at hand.
func TestReadBuiltModule(t *testing.T) {
	dir := os.Getenv("MEDFORGE_SCORERS_DIR")
	if dir == "" {
		t.Skip("MEDFORGE_SCORERS_DIR not set")
	}
	b, err := os.ReadFile(filepath.Join(dir, "accuracy.wasm"))
	if err != nil {
		t.Skip(err)
	}
	info, err := Read(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Imports) == 0 || len(info.Memories) == 0 {
		t.Fatalf("info %+v", info)
	}
	for _, im := range info.Imports {
		if im.Module != "wasi_snapshot_preview1" {
			t.Fatalf("import %+v", im)
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add(mod([]byte{5, 4, 1, 1, 2, 17}))
	f.Add(mod([]byte{2, 4, 1, 0, 0, 9}))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x07\x05\x01\x01a\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := Read(b)
		if err == nil && (info.Imports == nil || info.Exports == nil || info.Memories == nil) {
			t.Fatal("nil slices on success")
		}
	})
}
