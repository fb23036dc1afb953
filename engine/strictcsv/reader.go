package strictcsv

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"unicode/utf8"
)

// Limits bounds what a Reader accepts. Zero fields mean no limit.
type Limits struct {
	// MaxBytes is the largest accepted file size in bytes, BOM included.
	MaxBytes int64
	// MaxRows is the largest accepted number of data rows (the header not
	// counted).
	MaxRows int
}

// ReadAll reads r to the end, failing with an *InvalidError naming the
// limit as soon as more than maxBytes bytes arrive, without reading the
// rest. maxBytes <= 0 means no limit. I/O errors are
// returned as they are.
func ReadAll(r io.Reader, maxBytes int64) ([]byte, error) {
	if maxBytes <= 0 {
		return io.ReadAll(r)
	}
	var buf bytes.Buffer
	// A file says its size: refuse it unread, or read it in one buffer.
	if f, ok := r.(interface{ Stat() (fs.FileInfo, error) }); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			if fi.Size() > maxBytes {
				return nil, tooLarge(maxBytes)
			}
			buf.Grow(int(fi.Size()) + bytes.MinRead)
		}
	}
	n, err := buf.ReadFrom(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return nil, err
	}
	if n > maxBytes {
		return nil, tooLarge(maxBytes)
	}
	return buf.Bytes(), nil
}

func tooLarge(max int64) error {
	return &InvalidError{Problems: []Problem{{Message: fmt.Sprintf("file is larger than the limit of %d bytes", max)}}}
}

// special marks the bytes that end the fast path of an unquoted field.
var special = [256]bool{',': true, '\n': true, '\r': true, '"': true}

// Reader iterates the records of one in-memory CSV file. It is not safe for
// concurrent use. Fields returned by Next are valid until the next call to
// Next; they alias the input buffer except for quoted fields with escaped
// quotes.
type Reader struct {
	data    []byte
	pos     int
	row     int // record number of the last record returned; header = 1
	lim     Limits
	probs   *Problems
	header  []string
	fields  [][]byte
	scratch []byte
	utf8bad bool // the buffer holds invalid UTF-8: check every field
}

// NewReader checks the file-level rules (size, emptiness, BOM, UTF-8 of the
// header) and reads the header. Problems found in the data rows later are
// added to probs, which the caller shares to add its own. A nil error means
// the header was read; the header may still have problems of its own (blank
// or duplicate names) recorded in probs.
func NewReader(data []byte, lim Limits, probs *Problems) (*Reader, error) {
	if lim.MaxBytes > 0 && int64(len(data)) > lim.MaxBytes {
		return nil, tooLarge(lim.MaxBytes)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	r := &Reader{data: data, lim: lim, probs: probs}
	if len(data) == 0 {
		return nil, fatal(Problem{Message: "file is empty"})
	}
	r.utf8bad = !utf8.Valid(data)
	fields, err := r.next(-1)
	if err != nil {
		return nil, err
	}
	r.header = make([]string, len(fields))
	seen := make(map[string]bool, len(fields))
	for i, f := range fields {
		if r.utf8bad && !utf8.Valid(f) {
			return nil, fatal(Problem{Row: 1, Value: Show(f), Message: "header is not valid UTF-8"})
		}
		name := string(f)
		r.header[i] = name
		switch {
		case name == "":
			probs.Add(Problem{Row: 1, Message: fmt.Sprintf("header field %d is blank", i+1)})
		case seen[name]:
			probs.Add(Problem{Row: 1, Column: name, Message: "column appears twice in the header"})
		}
		seen[name] = true
	}
	return r, nil
}

// Header returns the column names of the header row, in file order.
func (r *Reader) Header() []string { return r.header }

// Row returns the record number of the last record Next returned (the
// header is row 1).
func (r *Reader) Row() int { return r.row }

// Next returns the next data record, whose field count equals the header's.
// Records breaking a recoverable rule (wrong field count, blank row,
// invalid UTF-8) are recorded in the Problems and skipped. It returns
// io.EOF after the last record, and an *InvalidError when the file cannot
// be read further (broken quoting, too many rows) or the Problems are full.
func (r *Reader) Next() ([][]byte, error) {
	for {
		if r.probs.Full() {
			r.probs.Stop()
			return nil, r.probs.Err()
		}
		if r.pos >= len(r.data) {
			return nil, io.EOF
		}
		if r.lim.MaxRows > 0 && r.row-1 >= r.lim.MaxRows {
			r.probs.Add(Problem{Row: r.row + 1, Message: fmt.Sprintf("file has more than the limit of %d rows", r.lim.MaxRows)})
			return nil, r.probs.Err()
		}
		fields, err := r.next(len(r.header))
		if err != nil {
			return nil, err
		}
		if fields == nil { // recorded and skipped
			continue
		}
		return fields, nil
	}
}

func fatal(p Problem) error { return &InvalidError{Problems: []Problem{p}} }

// fatalHere adds p to the collected problems and returns them all, so
// earlier recoverable problems are not lost.
func (r *Reader) fatalHere(p Problem) error {
	r.probs.Add(p)
	return r.probs.Err()
}

func (r *Reader) column(i int) string {
	if i < len(r.header) {
		return r.header[i]
	}
	return ""
}

// next parses one record starting at r.pos. want < 0 reads the header. It
// returns nil fields (and nil error) for a skipped record.
func (r *Reader) next(want int) ([][]byte, error) {
	data := r.data
	r.row++
	row := r.row
	fields := r.fields[:0]
	r.scratch = r.scratch[:0]
	i := r.pos
	start := i
	if data[i] == '\n' || (data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n') {
		return nil, r.blank(i, row, want)
	}
	fieldStart := i
	for {
		// Fast path: scan an unquoted field.
		for i < len(data) && !special[data[i]] {
			i++
		}
		if i >= len(data) {
			fields = append(fields, data[fieldStart:i])
			r.pos = i
			break
		}
		c := data[i]
		if c == ',' {
			fields = append(fields, data[fieldStart:i])
			i++
			fieldStart = i
			continue
		}
		if c == '\n' {
			fields = append(fields, data[fieldStart:i])
			r.pos = i + 1
			break
		}
		if c == '\r' {
			if i+1 < len(data) && data[i+1] == '\n' {
				fields = append(fields, data[fieldStart:i])
				r.pos = i + 2
				break
			}
			return nil, r.fatalHere(Problem{Row: row, Column: r.column(len(fields)), Message: "carriage return not followed by a line feed outside quotes"})
		}
		// c == '"'
		if i != fieldStart {
			return nil, r.fatalHere(Problem{Row: row, Column: r.column(len(fields)), Value: Show(data[fieldStart:min(i+1, len(data))]),
				Message: "quote inside an unquoted field (quote the whole field and double the quote)"})
		}
		content, j, err := r.quoted(i, row, len(fields))
		if err != nil {
			return nil, err
		}
		fields = append(fields, content)
		var end bool
		i, end, err = r.afterQuoted(j+1, row, len(fields))
		if err != nil {
			return nil, err
		}
		if end {
			break
		}
		fieldStart = i
	}
	r.fields = fields
	// The common case (a data row of the header's width in valid UTF-8
	// input) stays free of the call.
	if want >= 0 && (len(fields) != want || r.utf8bad) && !r.accept(fields, row, start, want) {
		return nil, nil
	}
	return fields, nil
}

// blank skips the blank record (no fields at all: a bare line feed, or a
// carriage return and line feed) that starts at i, the record's row
// number being row. A blank header (want < 0) is fatal; a blank data row
// is a collected problem, and blank returns nil.
func (r *Reader) blank(i, row, want int) error {
	if r.data[i] == '\r' {
		i++
	}
	r.pos = i + 1
	if want < 0 {
		return fatal(Problem{Row: row, Message: "header row is blank"})
	}
	r.probs.Add(Problem{Row: row, Message: "row is blank"})
	return nil
}

// quoted parses the quoted field whose opening quote is at i (the field
// being number col of record row). It returns the field's content, with
// doubled quotes undoubled into r.scratch (otherwise aliasing r.data), and
// the index of the closing quote. An unclosed quote is fatal.
func (r *Reader) quoted(i, row, col int) (content []byte, j int, err error) {
	data := r.data
	j = i + 1
	escaped := false
	for {
		k := bytes.IndexByte(data[j:], '"')
		if k < 0 {
			return nil, 0, r.fatalHere(Problem{Row: row, Column: r.column(col), Value: Show(data[i:min(len(data), i+maxShown)]),
				Message: "quoted field is never closed"})
		}
		j += k
		if j+1 < len(data) && data[j+1] == '"' {
			escaped = true
			j += 2
			continue
		}
		break
	}
	content = data[i+1 : j]
	if escaped {
		s := len(r.scratch)
		for p := 0; p < len(content); p++ {
			r.scratch = append(r.scratch, content[p])
			if content[p] == '"' {
				p++
			}
		}
		content = r.scratch[s:]
	}
	return content, j, nil
}

// afterQuoted checks the byte at i, just after a quoted field's closing
// quote (the field being number nfields of record row, counting from 1).
// At the end of the data or of the record it sets r.pos past the record
// and reports end; after a comma it returns the index where the next field
// starts (which may be the end of the data: a trailing empty field).
// Anything else is fatal.
func (r *Reader) afterQuoted(i, row, nfields int) (next int, end bool, err error) {
	data := r.data
	if i >= len(data) {
		r.pos = i
		return i, true, nil
	}
	switch data[i] {
	case ',':
		return i + 1, false, nil
	case '\n':
		r.pos = i + 1
		return i, true, nil
	case '\r':
		if i+1 < len(data) && data[i+1] == '\n' {
			r.pos = i + 2
			return i, true, nil
		}
	}
	return 0, false, r.fatalHere(Problem{Row: row, Column: r.column(nfields - 1), Value: Show(data[i:min(i+1, len(data))]),
		Message: "unexpected character after a closing quote"})
}

// accept reports whether the data record fields (row number row, its
// bytes starting at start and ending before r.pos) is usable: it has
// exactly want fields and, when the input holds invalid UTF-8 anywhere,
// every field is valid UTF-8. Otherwise it collects a problem for the
// field count, or one per invalid field, and reports false.
func (r *Reader) accept(fields [][]byte, row, start, want int) bool {
	if len(fields) != want {
		r.probs.Add(Problem{Row: row, Value: Show(bytes.TrimRight(r.data[start:r.pos], "\r\n")),
			Message: fmt.Sprintf("row has %d fields, the header has %d", len(fields), want)})
		return false
	}
	if r.utf8bad {
		bad := false
		for k, f := range fields {
			if !utf8.Valid(f) {
				r.probs.Add(Problem{Row: row, Column: r.column(k), Value: Show(f), Message: "value is not valid UTF-8"})
				bad = true
			}
		}
		if bad {
			return false
		}
	}
	return true
}
