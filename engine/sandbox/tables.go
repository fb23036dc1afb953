package sandbox

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MaxTableElements bounds every table of a scorer module. A table element
// is a host-side reference (8 bytes in wazero), allocated outside the
// guest's capped linear memory, so an unbounded table.grow would let a
// module take host memory without limit. Go's wasip1 modules declare one
// function table of a few thousand elements; C modules one of a handful.
const MaxTableElements = 1 << 17

const (
	wasmSectionImport = 2
	wasmSectionTable  = 4
)

var errTruncated = errors.New("truncated")

// boundTables checks the table section of a WebAssembly binary and returns
// the binary with every table's maximum set to at most limit elements: a
// table that declares no maximum, or one above limit, gets limit, so
// table.grow fails (returns -1) at limit instead of allocating host memory.
// A table whose initial size exceeds limit, an imported table and a table
// type this host does not know are refused with a reason that names the
// table. The input is never modified; when nothing needs changing it is
// returned as is. Only the header and section framing are parsed here;
// everything else is left to the compiler's own validation.
func boundTables(wasm []byte, limit uint32) ([]byte, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return wasm, nil // not a module: the compiler says why
	}
	pos := 8
	for pos < len(wasm) {
		id := wasm[pos]
		size, n, err := readU32(wasm[pos+1:])
		if err != nil {
			return nil, fmt.Errorf("section at byte %d: size: %v", pos, err)
		}
		body := pos + 1 + n
		end := body + int(size)
		if end > len(wasm) || end < body {
			return nil, fmt.Errorf("section at byte %d: %d bytes run past the end of the module", pos, size)
		}
		switch id {
		case wasmSectionImport:
			if err := refuseTableImports(wasm[body:end]); err != nil {
				return nil, err
			}
		case wasmSectionTable:
			sec, err := boundTableSection(wasm[body:end], limit)
			if err != nil {
				return nil, err
			}
			if sec == nil {
				return wasm, nil
			}
			out := make([]byte, 0, len(wasm)+len(sec)-int(size)+5)
			out = append(out, wasm[:pos+1]...)
			out = binary.AppendUvarint(out, uint64(len(sec)))
			out = append(out, sec...)
			return append(out, wasm[end:]...), nil
		}
		pos = end
	}
	return wasm, nil
}

// boundTableSection returns the re-encoded table section, or nil when every
// table already has a maximum within limit.
func boundTableSection(sec []byte, limit uint32) ([]byte, error) {
	count, p, err := readU32(sec)
	if err != nil {
		return nil, fmt.Errorf("table section: count: %v", err)
	}
	out := binary.AppendUvarint(nil, uint64(count))
	changed := false
	for i := range count {
		if p+2 > len(sec) {
			return nil, fmt.Errorf("table %d: %v", i, errTruncated)
		}
		ref, flags := sec[p], sec[p+1]
		p += 2
		if ref != 0x70 && ref != 0x6f {
			return nil, fmt.Errorf("table %d: unknown element type %#x", i, ref)
		}
		if flags > 1 {
			return nil, fmt.Errorf("table %d: limits flag %#x is not supported (only 32-bit tables)", i, flags)
		}
		min, n, err := readU32(sec[p:])
		if err != nil {
			return nil, fmt.Errorf("table %d: initial size: %v", i, err)
		}
		p += n
		max := uint32(0)
		if flags == 1 {
			if max, n, err = readU32(sec[p:]); err != nil {
				return nil, fmt.Errorf("table %d: maximum size: %v", i, err)
			}
			p += n
		}
		if min > limit {
			return nil, fmt.Errorf("table %d starts with %d elements, over the limit of %d", i, min, limit)
		}
		if flags == 0 || max > limit {
			max, changed = limit, true
		}
		out = append(out, ref, 1)
		out = binary.AppendUvarint(out, uint64(min))
		out = binary.AppendUvarint(out, uint64(max))
	}
	if p != len(sec) {
		return nil, fmt.Errorf("table section: %d unexpected bytes after %d tables", len(sec)-p, count)
	}
	if !changed {
		return nil, nil
	}
	return out, nil
}

// refuseTableImports refuses any imported table: a scorer module defines
// its own (and the host offers none, so it could not link anyway).
func refuseTableImports(sec []byte) error {
	count, p, err := readU32(sec)
	if err != nil {
		return fmt.Errorf("import section: count: %v", err)
	}
	for i := range count {
		var names [2]string
		for j := range names {
			l, n, err := readU32(sec[p:])
			if err != nil || p+n+int(l) > len(sec) || p+n+int(l) < p {
				return fmt.Errorf("import %d: name: %v", i, errTruncated)
			}
			names[j] = string(sec[p+n : p+n+int(l)])
			p += n + int(l)
		}
		if p >= len(sec) {
			return fmt.Errorf("import %d: %v", i, errTruncated)
		}
		kind := sec[p]
		p++
		var skip int
		switch kind {
		case 0x00: // function: type index
			_, skip, err = readU32(sec[p:])
		case 0x01:
			return fmt.Errorf("import %s.%s is not allowed: a scorer module must define its own tables", names[0], names[1])
		case 0x02: // memory: limits
			skip, err = limitsLen(sec[p:])
		case 0x03: // global: value type, mutability
			skip = 2
			if p+2 > len(sec) {
				err = errTruncated
			}
		default:
			return fmt.Errorf("import %s.%s has unknown kind %#x", names[0], names[1], kind)
		}
		if err != nil {
			return fmt.Errorf("import %s.%s: %v", names[0], names[1], err)
		}
		p += skip
	}
	return nil
}

// limitsLen is the encoded length of a limits structure (flag, min, [max]).
func limitsLen(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, errTruncated
	}
	p := 1
	vals := 1 + int(b[0]&1)
	for range vals {
		_, n, err := readLEB(b[p:], 64)
		if err != nil {
			return 0, err
		}
		p += n
	}
	return p, nil
}

// readU32 reads an unsigned LEB128 value of at most 32 bits.
func readU32(b []byte) (uint32, int, error) {
	v, n, err := readLEB(b, 32)
	return uint32(v), n, err
}

func readLEB(b []byte, bits uint) (uint64, int, error) {
	var v uint64
	maxBytes := int((bits + 6) / 7)
	for i := 0; i < maxBytes; i++ {
		if i >= len(b) {
			return 0, 0, errTruncated
		}
		c := b[i]
		v |= uint64(c&0x7f) << (7 * uint(i))
		if c&0x80 == 0 {
			if bits < 64 && v>>bits != 0 {
				return 0, 0, errors.New("integer too large")
			}
			return v, i + 1, nil
		}
	}
	return 0, 0, errors.New("integer too long")
}
