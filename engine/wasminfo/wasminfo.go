// Package wasminfo reads what a WebAssembly binary declares about itself
// (its imports, exports and memories) without compiling or running it. The
// certification report lists these for authors; the sandbox still makes
// every decision about what may run.
//
// Read never panics and never allocates more than a small multiple of its
// input: every count and length is checked against the bytes left.
package wasminfo

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Import is one import: the module and field names and the kind of thing
// imported ("func", "table", "memory", "global" or "tag").
type Import struct {
	Module string `json:"module"`
	Name   string `json:"name"`
	Kind   string `json:"kind"`
}

// Memory is one memory's limits in 64 KiB pages; MaxPages is nil when the
// module sets no maximum.
type Memory struct {
	MinPages uint64  `json:"min_pages"`
	MaxPages *uint64 `json:"max_pages,omitempty"`
	Imported bool    `json:"imported,omitempty"`
}

// Info is what Read found.
type Info struct {
	Imports  []Import `json:"imports"`
	Exports  []string `json:"exports"`
	Memories []Memory `json:"memories"`
}

// Read parses the sections of a WebAssembly 1.0 binary that Info needs and
// skips every other section. A malformed binary is an error naming the byte
// offset.
func Read(wasm []byte) (Info, error) {
	info := Info{Imports: []Import{}, Exports: []string{}, Memories: []Memory{}}
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], []byte("\x00asm")) {
		return info, errors.New("not a WebAssembly binary (missing \\0asm magic)")
	}
	if !bytes.Equal(wasm[4:8], []byte{1, 0, 0, 0}) {
		return info, fmt.Errorf("unsupported WebAssembly version % x", wasm[4:8])
	}
	r := &reader{b: wasm, off: 8}
	for r.off < len(r.b) {
		id := r.byte()
		size := r.u32()
		if r.err != nil {
			break
		}
		if uint64(size) > uint64(len(r.b)-r.off) {
			r.fail("section %d of %d bytes runs past the end", id, size)
			break
		}
		sec := &reader{b: r.b[:r.off+int(size)], off: r.off}
		switch id {
		case 2:
			sec.imports(&info)
		case 5:
			n := sec.count()
			for i := uint32(0); i < n && sec.err == nil; i++ {
				info.Memories = append(info.Memories, sec.limits())
			}
		case 7:
			n := sec.count()
			for i := uint32(0); i < n && sec.err == nil; i++ {
				name := sec.name()
				sec.byte()
				sec.u32()
				info.Exports = append(info.Exports, name)
			}
		}
		if sec.err != nil {
			return info, sec.err
		}
		r.off += int(size)
	}
	return info, r.err
}

type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("malformed WebAssembly at byte %d: %s", r.off, fmt.Sprintf(format, args...))
	}
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail("unexpected end")
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

// uleb reads an unsigned LEB128 of at most bits bits.
func (r *reader) uleb(bits uint) uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if shift >= bits || (shift+7 > bits && c&0x7f>>(bits-shift) != 0) {
			r.fail("integer too large")
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
}

func (r *reader) u32() uint32 { return uint32(r.uleb(32)) }

// count reads a vector length, refusing one that cannot fit in the bytes
// left (every element takes at least one byte).
func (r *reader) count() uint32 {
	n := r.u32()
	if r.err == nil && uint64(n) > uint64(len(r.b)-r.off) {
		r.fail("vector of %d elements in %d bytes", n, len(r.b)-r.off)
		return 0
	}
	return n
}

func (r *reader) name() string {
	n := r.u32()
	if r.err != nil {
		return ""
	}
	if uint64(n) > uint64(len(r.b)-r.off) {
		r.fail("name of %d bytes runs past the end", n)
		return ""
	}
	s := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	if !utf8.Valid(s) {
		r.fail("name is not UTF-8")
		return ""
	}
	return string(s)
}

func (r *reader) limits() Memory {
	flags := r.byte()
	if flags > 7 {
		r.fail("memory limits flags %#x", flags)
		return Memory{}
	}
	bits := uint(32)
	if flags&4 != 0 {
		bits = 64
	}
	m := Memory{MinPages: r.uleb(bits)}
	if flags&1 != 0 {
		max := r.uleb(bits)
		m.MaxPages = &max
	}
	return m
}

func (r *reader) imports(info *Info) {
	n := r.count()
	for i := uint32(0); i < n && r.err == nil; i++ {
		imp := Import{Module: r.name(), Name: r.name()}
		switch kind := r.byte(); kind {
		case 0:
			imp.Kind = "func"
			r.u32()
		case 1:
			imp.Kind = "table"
			r.byte()
			r.limits()
		case 2:
			imp.Kind = "memory"
			m := r.limits()
			m.Imported = true
			info.Memories = append(info.Memories, m)
		case 3:
			imp.Kind = "global"
			r.byte()
			r.byte()
		case 4:
			imp.Kind = "tag"
			r.byte()
			r.u32()
		default:
			r.fail("import kind %d", kind)
		}
		if r.err == nil {
			info.Imports = append(info.Imports, imp)
		}
	}
}
