package abi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"unicode/utf8"
	"unsafe"
)

// Names of the exports a scorer module provides (docs/scorer-abi.md).
const (
	// MarkerExport is a function export taking and returning nothing whose
	// presence declares ABI major version 1. The host never calls it.
	MarkerExport = "medforge_abi_v1"
	// MinorExport is a function export () -> i32 returning the guest's ABI
	// minor version.
	MinorExport = "medforge_abi_minor"
	// AllocExport is a function export (size i32) -> i32 returning the guest
	// address of a fresh, 8-byte aligned buffer of size bytes that the host
	// fills with the encoded Input; 0 means the guest could not allocate.
	AllocExport = "medforge_alloc"
	// ScoreExport is a function export (ptr i32, len i32) -> i64 that scores
	// the encoded Input at ptr and returns the address of its encoded output
	// in the high 32 bits and its length in the low 32 bits.
	ScoreExport = "medforge_score"
)

// Wire layout constants (docs/scorer-abi.md).
const (
	inputMagic  = "MFI1"
	resultMagic = "MFR1"
	errorMagic  = "MFE1"

	inputHeaderSize  = 16
	columnDescSize   = 32
	resultHeaderSize = 24
	errorHeaderSize  = 12

	flagPerUnit = 1
	flagPublic  = 1
)

// Limits every encoder and decoder enforces.
const (
	// MaxUnits is the largest Input.Units: offsets are int32 as in Arrow.
	MaxUnits = math.MaxInt32 - 1
	// MaxColumns bounds Input.Columns.
	MaxColumns = 256
	// MaxNameLen bounds column and secondary names, in bytes.
	MaxNameLen = 64
	// MaxSecondary bounds Result.Secondary.
	MaxSecondary = 64
	// MaxErrorMessage bounds GuestError.Message, in bytes; EncodeError
	// truncates longer messages.
	MaxErrorMessage = 4096
	// maxWire is the largest encoded buffer: addresses are 32-bit.
	maxWire = math.MaxUint32
)

// ErrMalformed is wrapped by every decoding error: the buffer does not follow
// docs/scorer-abi.md. Messages never quote buffer contents beyond names.
var ErrMalformed = errors.New("malformed scorer ABI buffer")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

var le = binary.LittleEndian

// littleEndian reports whether the running machine stores integers as the
// wire does, which lets decoders alias aligned buffers instead of copying.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

func align8(n int) int { return (n + 7) &^ 7 }

// Validate reports whether in is well formed: units within MaxUnits, a
// known type and role and a valid name for every column, exactly the
// buffers its type needs with lengths matching Units, and offsets that start
// at 0, never decrease and end at the length of the values they index.
func (in *Input) Validate() error { return in.validate(true) }

// validate checks in; with full unset it checks offsets only at both ends,
// in O(columns) time.
func (in *Input) validate(full bool) error {
	if in.Units < 0 || in.Units > MaxUnits {
		return fmt.Errorf("input: %d units out of range", in.Units)
	}
	if len(in.Columns) > MaxColumns {
		return fmt.Errorf("input: %d columns, at most %d", len(in.Columns), MaxColumns)
	}
	for i := range in.Columns {
		c := &in.Columns[i]
		if err := checkName(c.Name); err != nil {
			return fmt.Errorf("input column %d: %w", i, err)
		}
		if c.Role < Key || c.Role > Prediction {
			return fmt.Errorf("input column %q: unknown role %d", c.Name, c.Role)
		}
		var err error
		switch c.Type {
		case Int64:
			if len(c.Int64) != in.Units || c.Float64 != nil || c.Offsets != nil || c.Data != nil {
				err = errors.New("int64 column needs exactly Units values in Int64")
			}
		case Float64:
			if len(c.Float64) != in.Units || c.Int64 != nil || c.Offsets != nil || c.Data != nil {
				err = errors.New("float64 column needs exactly Units values in Float64")
			}
		case Utf8:
			if c.Int64 != nil || c.Float64 != nil {
				err = errors.New("utf8 column uses only Offsets and Data")
			} else {
				err = checkOffsets(c.Offsets, in.Units, len(c.Data), full)
			}
		case ListFloat64:
			if c.Int64 != nil || c.Data != nil {
				err = errors.New("list<float64> column uses only Offsets and Float64")
			} else {
				err = checkOffsets(c.Offsets, in.Units, len(c.Float64), full)
			}
		default:
			err = fmt.Errorf("unknown type %d", c.Type)
		}
		if err != nil {
			return fmt.Errorf("input column %q: %w", c.Name, err)
		}
	}
	return nil
}

func checkName(s string) error {
	if s == "" || len(s) > MaxNameLen || !utf8.ValidString(s) {
		return fmt.Errorf("name must be 1..%d bytes of UTF-8", MaxNameLen)
	}
	return nil
}

func checkOffsets(off []int32, units, values int, full bool) error {
	if len(off) != units+1 {
		return fmt.Errorf("%d offsets for %d units, want units+1", len(off), units)
	}
	if off[0] != 0 {
		return errors.New("first offset is not 0")
	}
	prev := off[units]
	if full {
		prev = 0
		for _, o := range off[1:] {
			if o < prev {
				return errors.New("offsets decrease")
			}
			prev = o
		}
	}
	if int(prev) != values {
		return fmt.Errorf("last offset %d, values hold %d", prev, values)
	}
	return nil
}

// EncodedInputSize returns the exact length EncodeInput produces for in, or
// an error when in is invalid or too large for 32-bit addresses.
func EncodedInputSize(in *Input) (int, error) {
	if err := in.Validate(); err != nil {
		return 0, err
	}
	n := inputHeaderSize + columnDescSize*len(in.Columns)
	for i := range in.Columns {
		// Same order as EncodeInput: name, offsets, values.
		n = align8(n) + len(in.Columns[i].Name)
		if in.Columns[i].Offsets != nil {
			n = align8(n) + 4*len(in.Columns[i].Offsets)
		}
		n = align8(n) + bufLen(&in.Columns[i])
	}
	if n > maxWire {
		return 0, fmt.Errorf("input: encoded size %d exceeds 4 GiB", n)
	}
	return n, nil
}

func bufLen(c *Column) int {
	switch c.Type {
	case Int64:
		return 8 * len(c.Int64)
	case Float64, ListFloat64:
		return 8 * len(c.Float64)
	default:
		return len(c.Data)
	}
}

// EncodeInput returns the ABI v1 wire form of in (docs/scorer-abi.md). It
// fails only when in.Validate fails or the result would exceed 4 GiB. Every
// buffer in the result starts at an offset that is a multiple of 8.
func EncodeInput(in *Input) ([]byte, error) {
	segs, n, err := inputSegments(in)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 0, n)
	for _, s := range segs {
		buf = append(buf, s...)
	}
	return buf, nil
}

// WriteInput writes exactly the bytes of EncodeInput(in) to w without
// building them in memory first: column buffers go to w as they are (on a
// little-endian machine). It returns the byte count written.
func WriteInput(w io.Writer, in *Input) (int64, error) {
	segs, _, err := inputSegments(in)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, s := range segs {
		k, err := w.Write(s)
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

var zeros [8]byte

// inputSegments lays out the wire form of in as a list of byte slices:
// a freshly built header and descriptor table, then names, padding and
// column buffers (aliasing in's slices on little-endian machines).
func inputSegments(in *Input) ([][]byte, int, error) {
	n, err := EncodedInputSize(in)
	if err != nil {
		return nil, 0, err
	}
	head := make([]byte, inputHeaderSize+columnDescSize*len(in.Columns))
	copy(head, inputMagic)
	le.PutUint16(head[4:], Major)
	le.PutUint16(head[6:], Minor)
	le.PutUint32(head[8:], uint32(in.Units))
	le.PutUint32(head[12:], uint32(len(in.Columns)))
	segs := make([][]byte, 0, 1+6*len(in.Columns))
	segs = append(segs, head)
	pos := len(head)
	add := func(b []byte) {
		if pad := align8(pos) - pos; pad > 0 {
			segs = append(segs, zeros[:pad])
			pos += pad
		}
		if len(b) > 0 {
			segs = append(segs, b)
			pos += len(b)
		}
	}
	for i := range in.Columns {
		c := &in.Columns[i]
		d := head[inputHeaderSize+columnDescSize*i:]
		d[0], d[1] = byte(c.Type), byte(c.Role)
		le.PutUint32(d[4:], uint32(align8(pos)))
		le.PutUint32(d[8:], uint32(len(c.Name)))
		add([]byte(c.Name))
		if c.Offsets != nil {
			le.PutUint32(d[12:], uint32(align8(pos)))
			le.PutUint32(d[16:], uint32(4*len(c.Offsets)))
			add(int32Bytes(c.Offsets))
		}
		le.PutUint32(d[20:], uint32(align8(pos)))
		le.PutUint32(d[24:], uint32(bufLen(c)))
		switch c.Type {
		case Int64:
			add(int64Bytes(c.Int64))
		case Float64, ListFloat64:
			add(float64Bytes(c.Float64))
		case Utf8:
			add(c.Data)
		}
	}
	if pos != n {
		return nil, 0, fmt.Errorf("input: laid out %d bytes, expected %d", pos, n)
	}
	return segs, n, nil
}

// int64Bytes, float64Bytes and int32Bytes return v's little-endian bytes,
// aliasing v when the machine is little-endian.
func int64Bytes(v []int64) []byte {
	if littleEndian {
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 8*len(v))
	}
	b := make([]byte, 8*len(v))
	putInt64s(b, v)
	return b
}

func float64Bytes(v []float64) []byte {
	if littleEndian {
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 8*len(v))
	}
	b := make([]byte, 8*len(v))
	putFloat64s(b, v)
	return b
}

func int32Bytes(v []int32) []byte {
	if littleEndian {
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v))
	}
	b := make([]byte, 4*len(v))
	for i, x := range v {
		le.PutUint32(b[4*i:], uint32(x))
	}
	return b
}

// DecodeInput parses an ABI v1 input buffer. On success the result passes
// Validate. Numeric columns may alias buf (when buf is 8-byte aligned and
// the machine is little-endian), so buf must not change while the Input is
// in use. Any other buffer yields an error wrapping ErrMalformed.
func DecodeInput(buf []byte) (*Input, error) { return decodeInput(buf, true) }

// DecodeTrustedInput is DecodeInput for a guest, which trusts the host's
// encoder: it checks the header, every buffer's bounds, length and
// alignment, and the first and last offset of each column, in O(columns)
// time, but not that offsets never decrease. A decreasing offset can then
// only make a metric's slice expression panic (sdk.Run reports that as an
// internal error); nothing reads outside buf. Never use it on the host.
func DecodeTrustedInput(buf []byte) (*Input, error) { return decodeInput(buf, false) }

func decodeInput(buf []byte, full bool) (*Input, error) {
	if len(buf) < inputHeaderSize || string(buf[:4]) != inputMagic {
		return nil, malformed("input: missing header")
	}
	if major := le.Uint16(buf[4:]); major != Major {
		return nil, malformed("input: major version %d, want %d", major, Major)
	}
	units := le.Uint32(buf[8:])
	ncols := le.Uint32(buf[12:])
	if units > MaxUnits {
		return nil, malformed("input: %d units out of range", units)
	}
	if ncols > MaxColumns || uint64(len(buf)) < inputHeaderSize+uint64(ncols)*columnDescSize {
		return nil, malformed("input: %d columns do not fit", ncols)
	}
	in := &Input{Units: int(units), Columns: make([]Column, ncols)}
	for i := range in.Columns {
		d := buf[inputHeaderSize+columnDescSize*i:]
		c := &in.Columns[i]
		c.Type, c.Role = Type(d[0]), Role(d[1])
		if le.Uint16(d[2:]) != 0 || le.Uint32(d[28:]) != 0 {
			return nil, malformed("input column %d: reserved fields set", i)
		}
		name, err := slice(buf, le.Uint32(d[4:]), le.Uint32(d[8:]), 1)
		if err != nil {
			return nil, malformed("input column %d name: %v", i, err)
		}
		c.Name = string(name)
		offs, err := slice(buf, le.Uint32(d[12:]), le.Uint32(d[16:]), 4)
		if err != nil {
			return nil, malformed("input column %d offsets: %v", i, err)
		}
		vals, err := slice(buf, le.Uint32(d[20:]), le.Uint32(d[24:]), 8)
		if err != nil {
			return nil, malformed("input column %d values: %v", i, err)
		}
		switch c.Type {
		case Int64:
			if len(offs) != 0 || len(vals) != 8*in.Units {
				return nil, malformed("input column %d: int64 buffers do not match %d units", i, in.Units)
			}
			c.Int64 = int64s(vals)
		case Float64:
			if len(offs) != 0 || len(vals) != 8*in.Units {
				return nil, malformed("input column %d: float64 buffers do not match %d units", i, in.Units)
			}
			c.Float64 = float64s(vals)
		case Utf8:
			if len(offs) != 4*(in.Units+1) {
				return nil, malformed("input column %d: offsets do not match %d units", i, in.Units)
			}
			c.Offsets, c.Data = int32s(offs), vals
		case ListFloat64:
			if len(offs) != 4*(in.Units+1) || len(vals)%8 != 0 {
				return nil, malformed("input column %d: list buffers do not match %d units", i, in.Units)
			}
			c.Offsets, c.Float64 = int32s(offs), float64s(vals)
		default:
			return nil, malformed("input column %d: unknown type %d", i, c.Type)
		}
	}
	if err := in.validate(full); err != nil {
		return nil, malformed("%v", err)
	}
	return in, nil
}

// slice returns buf[off:off+n], requiring off to be a multiple of align
// (numbers are read in place) and the range to lie inside buf.
func slice(buf []byte, off, n uint32, align uint32) ([]byte, error) {
	if n == 0 {
		return buf[:0:0], nil
	}
	if off%align != 0 {
		return nil, fmt.Errorf("offset %d not aligned to %d", off, align)
	}
	if uint64(off)+uint64(n) > uint64(len(buf)) {
		return nil, fmt.Errorf("range %d+%d outside buffer of %d bytes", off, n, len(buf))
	}
	return buf[off : off+n : off+n], nil
}

// putInt64s writes v little-endian at the start of dst and returns the
// number of bytes written.
func putInt64s(dst []byte, v []int64) int {
	if littleEndian {
		return copy(dst, int64Bytes(v))
	}
	for i, x := range v {
		le.PutUint64(dst[8*i:], uint64(x))
	}
	return 8 * len(v)
}

// putFloat64s writes v little-endian at the start of dst and returns the
// number of bytes written.
func putFloat64s(dst []byte, v []float64) int {
	if littleEndian {
		return copy(dst, float64Bytes(v))
	}
	for i, x := range v {
		le.PutUint64(dst[8*i:], math.Float64bits(x))
	}
	return 8 * len(v)
}

func aligned(b []byte, a uintptr) bool {
	return len(b) == 0 || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%a == 0
}

func int64s(b []byte) []int64 {
	n := len(b) / 8
	if n == 0 {
		return []int64{}
	}
	if littleEndian && aligned(b, 8) {
		return unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(b))), n)
	}
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(le.Uint64(b[8*i:]))
	}
	return out
}

func float64s(b []byte) []float64 {
	n := len(b) / 8
	if n == 0 {
		return []float64{}
	}
	if littleEndian && aligned(b, 8) {
		return unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(b))), n)
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = math.Float64frombits(le.Uint64(b[8*i:]))
	}
	return out
}

func int32s(b []byte) []int32 {
	n := len(b) / 4
	if littleEndian && aligned(b, 4) {
		return unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(b))), n)
	}
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(le.Uint32(b[4*i:]))
	}
	return out
}

// CheckResult reports whether r can be encoded and would decode for an
// Input of units units: a finite Primary, at most MaxSecondary secondaries
// with distinct valid names and finite values, and PerUnit either nil or
// exactly units values that are finite or NaN (NaN marks a unit left out).
func CheckResult(r *Result, units int) error {
	if math.IsNaN(r.Primary) || math.IsInf(r.Primary, 0) {
		return errors.New("result: primary score is not finite")
	}
	if len(r.Secondary) > MaxSecondary {
		return fmt.Errorf("result: %d secondary values, at most %d", len(r.Secondary), MaxSecondary)
	}
	seen := make(map[string]bool, len(r.Secondary))
	for _, s := range r.Secondary {
		if err := checkName(s.Name); err != nil {
			return fmt.Errorf("result: secondary: %w", err)
		}
		if seen[s.Name] {
			return fmt.Errorf("result: secondary %q twice", s.Name)
		}
		seen[s.Name] = true
		if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
			return fmt.Errorf("result: secondary %q is not finite", s.Name)
		}
	}
	if r.PerUnit != nil {
		if len(r.PerUnit) != units {
			return fmt.Errorf("result: %d per-unit values for %d units", len(r.PerUnit), units)
		}
		for i, v := range r.PerUnit {
			if math.IsInf(v, 0) {
				return fmt.Errorf("result: per-unit value %d is infinite", i)
			}
		}
	}
	return nil
}

// resultSpare is the room NewResult leaves after the per-unit values for
// secondary values (enough for 16 names of up to 20 bytes).
const resultSpare = 512

// NewResult returns a Result whose PerUnit holds units zeros that already
// sit inside the buffer EncodeResult will return, so encoding a large
// per-unit result copies nothing (for a guest, 8 MB less to allocate and
// copy per million units). Fill PerUnit in place; replacing the slice, or
// secondaries longer than about 512 bytes in all, only costs the copy.
func NewResult(units int) *Result {
	words := make([]uint64, resultHeaderSize/8+units+resultSpare/8)
	wire := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(words))), 8*len(words))
	per := unsafe.Slice((*float64)(unsafe.Pointer(&words[resultHeaderSize/8])), units)
	return &Result{PerUnit: per, wire: wire}
}

// EncodeResult returns the wire form of a successful result for an Input of
// units units, or the CheckResult error. For a Result from NewResult whose
// PerUnit is still the one NewResult made, it returns the Result's own
// buffer, written in place.
func EncodeResult(r *Result, units int) ([]byte, error) {
	if err := CheckResult(r, units); err != nil {
		return nil, err
	}
	n := resultHeaderSize + 8*len(r.PerUnit)
	for _, s := range r.Secondary {
		n += 4 + len(s.Name) + 8
	}
	if n > maxWire {
		return nil, errors.New("result: encoded size exceeds 4 GiB")
	}
	if r.inPlace(n) {
		buf := r.wire[:n]
		clear(buf[:resultHeaderSize])
		copy(buf, resultMagic)
		if r.PerUnit != nil {
			le.PutUint32(buf[4:], flagPerUnit)
		}
		le.PutUint64(buf[8:], math.Float64bits(r.Primary))
		le.PutUint32(buf[16:], uint32(len(r.Secondary)))
		le.PutUint32(buf[20:], uint32(len(r.PerUnit)))
		putSecondary(buf[resultHeaderSize+8*len(r.PerUnit):], r.Secondary)
		return buf, nil
	}
	buf := make([]byte, n)
	copy(buf, resultMagic)
	if r.PerUnit != nil {
		le.PutUint32(buf[4:], flagPerUnit)
	}
	le.PutUint64(buf[8:], math.Float64bits(r.Primary))
	le.PutUint32(buf[16:], uint32(len(r.Secondary)))
	le.PutUint32(buf[20:], uint32(len(r.PerUnit)))
	pos := resultHeaderSize + putFloat64s(buf[resultHeaderSize:], r.PerUnit)
	putSecondary(buf[pos:], r.Secondary)
	return buf, nil
}

// inPlace reports whether r's per-unit values sit in r.wire where the wire
// layout wants them and r.wire has room for n bytes, on a little-endian
// machine.
func (r *Result) inPlace(n int) bool {
	if !littleEndian || r.wire == nil || len(r.wire) < n || r.PerUnit == nil || len(r.PerUnit) == 0 {
		return false
	}
	return unsafe.Pointer(unsafe.SliceData(r.PerUnit)) == unsafe.Pointer(&r.wire[resultHeaderSize])
}

func putSecondary(buf []byte, sec []Named) {
	pos := 0
	for _, s := range sec {
		le.PutUint32(buf[pos:], uint32(len(s.Name)))
		pos += 4
		pos += copy(buf[pos:], s.Name)
		le.PutUint64(buf[pos:], math.Float64bits(s.Value))
		pos += 8
	}
}

// EncodeError returns the wire form of a guest failure. A message longer
// than MaxErrorMessage is cut at a rune boundary and invalid UTF-8 is
// replaced, so the result always decodes.
func EncodeError(e *GuestError) []byte {
	msg := e.Message
	if !utf8.ValidString(msg) {
		msg = toValidUTF8(msg)
	}
	if len(msg) > MaxErrorMessage {
		cut := MaxErrorMessage
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut]
	}
	buf := make([]byte, errorHeaderSize+len(msg))
	copy(buf, errorMagic)
	if e.Public {
		le.PutUint32(buf[4:], flagPublic)
	}
	le.PutUint32(buf[8:], uint32(len(msg)))
	copy(buf[errorHeaderSize:], msg)
	return buf
}

func toValidUTF8(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		out = append(out, r) // invalid bytes decode as utf8.RuneError
	}
	return string(out)
}

// DecodeOutput parses what a guest returned for an Input of units units. It
// returns the Result on success; the guest's *GuestError when the guest
// reported a failure; or an error wrapping ErrMalformed for anything else,
// including a Result that fails CheckResult. The Result never aliases buf.
func DecodeOutput(buf []byte, units int) (*Result, error) {
	if len(buf) < 4 {
		return nil, malformed("output: missing header")
	}
	switch string(buf[:4]) {
	case errorMagic:
		return nil, decodeGuestError(buf)
	case resultMagic:
	default:
		return nil, malformed("output: unknown magic")
	}
	if len(buf) < resultHeaderSize {
		return nil, malformed("output: short result header")
	}
	flags := le.Uint32(buf[4:])
	if flags&^flagPerUnit != 0 {
		return nil, malformed("output: unknown result flags %#x", flags)
	}
	r := &Result{Primary: math.Float64frombits(le.Uint64(buf[8:]))}
	nsec := le.Uint32(buf[16:])
	nper := le.Uint32(buf[20:])
	if nsec > MaxSecondary {
		return nil, malformed("output: %d secondary values", nsec)
	}
	if flags&flagPerUnit == 0 && nper != 0 {
		return nil, malformed("output: per-unit values without the per-unit flag")
	}
	pos := uint64(resultHeaderSize)
	if flags&flagPerUnit != 0 {
		if uint64(nper) != uint64(units) {
			return nil, malformed("output: %d per-unit values for %d units", nper, units)
		}
		end := pos + 8*uint64(nper)
		if end > uint64(len(buf)) {
			return nil, malformed("output: per-unit values outside buffer")
		}
		r.PerUnit = decodeFloats(buf[pos:end])
		pos = end
	}
	pos, err := decodeSecondary(r, buf, pos, nsec)
	if err != nil {
		return nil, err
	}
	if pos != uint64(len(buf)) {
		return nil, malformed("output: %d trailing bytes", uint64(len(buf))-pos)
	}
	if err := CheckResult(r, units); err != nil {
		return nil, malformed("%v", err)
	}
	return r, nil
}

// decodeGuestError parses buf, an error output (its magic already
// checked), into the guest's *GuestError, or returns an error wrapping
// ErrMalformed when its flags, length or UTF-8 are wrong. It never
// returns nil; the message never aliases buf.
func decodeGuestError(buf []byte) error {
	if len(buf) < errorHeaderSize {
		return malformed("output: short error header")
	}
	flags := le.Uint32(buf[4:])
	n := le.Uint32(buf[8:])
	if flags&^flagPublic != 0 {
		return malformed("output: unknown error flags %#x", flags)
	}
	if n > MaxErrorMessage || uint64(len(buf)) != errorHeaderSize+uint64(n) {
		return malformed("output: error message length %d does not match buffer", n)
	}
	msg := buf[errorHeaderSize:]
	if !utf8.Valid(msg) {
		return malformed("output: error message is not UTF-8")
	}
	return &GuestError{Public: flags&flagPublic != 0, Message: string(msg)}
}

// decodeFloats returns a new slice of the little-endian float64 values in
// b (whose length is a multiple of 8), copied in one move on a
// little-endian host.
func decodeFloats(b []byte) []float64 {
	out := make([]float64, len(b)/8)
	if littleEndian {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(out))), 8*len(out)), b)
	} else {
		for i := range out {
			out[i] = math.Float64frombits(le.Uint64(b[8*i:]))
		}
	}
	return out
}

// decodeSecondary appends to r the nsec named secondary values that start
// at pos in buf (each a u32 name length, the name, an f64) and returns the
// position after them, or an error wrapping ErrMalformed naming the first
// value that runs past buf or has a name longer than MaxNameLen.
func decodeSecondary(r *Result, buf []byte, pos uint64, nsec uint32) (uint64, error) {
	if nsec > 0 {
		r.Secondary = make([]Named, 0, nsec)
	}
	for i := uint32(0); i < nsec; i++ {
		if pos+4 > uint64(len(buf)) {
			return 0, malformed("output: secondary %d outside buffer", i)
		}
		n := uint64(le.Uint32(buf[pos:]))
		pos += 4
		if n > MaxNameLen || pos+n+8 > uint64(len(buf)) {
			return 0, malformed("output: secondary %d outside buffer", i)
		}
		name := string(buf[pos : pos+n])
		pos += n
		r.Secondary = append(r.Secondary, Named{Name: name, Value: math.Float64frombits(le.Uint64(buf[pos:]))})
		pos += 8
	}
	return pos, nil
}
