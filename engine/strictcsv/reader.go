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
	// Blank row: no fields at all.
	if data[i] == '\n' || (data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n') {
		if data[i] == '\r' {
			i++
		}
		r.pos = i + 1
		if want < 0 {
			return nil, fatal(Problem{Row: row, Message: "header row is blank"})
		}
		r.probs.Add(Problem{Row: row, Message: "row is blank"})
		return nil, nil
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
		j := i + 1
		escaped := false
		for {
			k := bytes.IndexByte(data[j:], '"')
			if k < 0 {
				return nil, r.fatalHere(Problem{Row: row, Column: r.column(len(fields)), Value: Show(data[i:min(len(data), i+maxShown)]),
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
		content := data[i+1 : j]
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
		fields = append(fields, content)
		i = j + 1
		if i >= len(data) {
			r.pos = i
			break
		}
		switch data[i] {
		case ',':
			i++
			fieldStart = i
			if i >= len(data) {
				// A trailing comma at end of file: one more empty field.
				fields = append(fields, data[i:i])
				r.pos = i
				goto done
			}
			continue
		case '\n':
			r.pos = i + 1
			goto done
		case '\r':
			if i+1 < len(data) && data[i+1] == '\n' {
				r.pos = i + 2
				goto done
			}
		}
		return nil, r.fatalHere(Problem{Row: row, Column: r.column(len(fields) - 1), Value: Show(data[i:min(i+1, len(data))]),
			Message: "unexpected character after a closing quote"})
	}
done:
	r.fields = fields
	if want >= 0 && len(fields) != want {
		r.probs.Add(Problem{Row: row, Value: Show(bytes.TrimRight(data[start:r.pos], "\r\n")),
			Message: fmt.Sprintf("row has %d fields, the header has %d", len(fields), want)})
		return nil, nil
	}
	if r.utf8bad && want >= 0 {
		bad := false
		for k, f := range fields {
			if !utf8.Valid(f) {
				r.probs.Add(Problem{Row: row, Column: r.column(k), Value: Show(f), Message: "value is not valid UTF-8"})
				bad = true
			}
		}
		if bad {
			return nil, nil
		}
	}
	return fields, nil
}
