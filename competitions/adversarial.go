package competitions

import (
	"bytes"
	"encoding/csv"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/engine/holdout"
	"github.com/medforge/medforge/engine/spec"
)

// subgen builds submissions for a holdout: the perfect one (its truth),
// permutations of it, random valid ones and the adversarial set of the
// certification report. Files it builds from the truth never leave the
// engine: only their scores do.
type subgen struct {
	sp   spec.Spec
	hd   *holdout.Holdout
	n    int
	cols []abi.Column // truth, in spec column order
}

func newSubgen(hd *holdout.Holdout) *subgen {
	return &subgen{sp: hd.Spec(), hd: hd, n: hd.Units(), cols: hd.Truth()}
}

// truthValue renders unit i's truth of column j as a submission value:
// integers and floats exactly (shortest round-trip form), boxes as a
// PredictionString with confidence 1.
func (g *subgen) truthValue(j, i int) string {
	c := g.cols[j]
	switch c.Type {
	case abi.Int64:
		return strconv.FormatInt(c.Int64[i], 10)
	case abi.Float64:
		return strconv.FormatFloat(c.Float64[i], 'g', -1, 64)
	case abi.ListFloat64:
		vals := c.Float64[c.Offsets[i]:c.Offsets[i+1]]
		var b strings.Builder
		for k := 0; k+4 <= len(vals); k += 4 {
			if k > 0 {
				b.WriteByte(' ')
			}
			b.WriteString("1")
			for _, v := range vals[k : k+4] {
				b.WriteByte(' ')
				b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
			}
		}
		return b.String()
	}
	return ""
}

// rows writes a CSV with the canonical header whose row k is unit ids[k]
// with values val(k, j) (val nil: the truth of unit from[k]).
func (g *subgen) csv(header []string, units []int, val func(row, col int) string) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(header)
	rec := make([]string, len(header))
	for k, i := range units {
		rec[0] = string(g.hd.ID(i))
		for j := 1; j < len(header); j++ {
			rec[j] = val(k, j-1)
		}
		_ = w.Write(rec)
	}
	w.Flush()
	return buf.Bytes()
}

func (g *subgen) all() []int {
	u := make([]int, g.n)
	for i := range u {
		u[i] = i
	}
	return u
}

// perfect is the holdout's truth as a submission.
func (g *subgen) perfect() []byte {
	return g.csv(g.sp.SubmissionHeader(), g.all(), func(row, col int) string { return g.truthValue(col, row) })
}

// permuted gives every unit the truth of another: rotated by half the
// units, so no unit keeps its own (with at least two units).
func (g *subgen) permuted() []byte {
	shift := max(1, g.n/2)
	return g.csv(g.sp.SubmissionHeader(), g.all(), func(row, col int) string { return g.truthValue(col, (row+shift)%g.n) })
}

// shuffled gives every unit the truth of a unit drawn by a seeded shuffle:
// a valid submission with the truth's value distribution.
func (g *subgen) shuffled(seed uint64) []byte {
	perm := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)).Perm(g.n)
	return g.csv(g.sp.SubmissionHeader(), g.all(), func(row, col int) string { return g.truthValue(col, perm[row]) })
}

// randomValue is a valid value for column j.
func (g *subgen) randomValue(r *rand.Rand, j int) string {
	c := g.sp.Columns[j]
	switch c.Type {
	case spec.Int:
		span := uint64(c.Max - c.Min)
		if span >= 1<<62 {
			return strconv.FormatInt(c.Min+int64(r.Uint64N(1<<62)), 10)
		}
		return strconv.FormatInt(c.Min+int64(r.Uint64N(span+1)), 10)
	case spec.Float:
		return strconv.FormatFloat(r.Float64(), 'g', -1, 64)
	case spec.Boxes:
		if r.IntN(2) == 0 {
			return ""
		}
		return strconv.FormatFloat(r.Float64(), 'f', 3, 64) + " 10 20 30 40"
	}
	return "0"
}

// AdversarialCases is the number of submissions the adversarial check runs.
const AdversarialCases = 200

// adversarialKinds name the generated families (8 variants each).
var adversarialKinds = []string{
	"empty file", "header only", "wrong header", "missing ids", "duplicate ids",
	"unknown ids", "extreme numbers", "extreme numbers in one row", "NaN text", "NaN text in one row",
	"huge cell", "huge row", "binary garbage", "formatting variants", "truncated file",
	"wrong delimiter", "constant predictions", "random predictions", "odd number formats", "repeated rows",
	"odd values", "quote games", "line endings", "overflowing numbers", "odd ids",
}

// adversarial returns case k (0 <= k < AdversarialCases): its name and
// bytes. Cases are built one at a time so the report holds one in memory.
func (g *subgen) adversarial(k int) (string, []byte) {
	kind, v := k/8, k%8
	name := adversarialKinds[kind%len(adversarialKinds)] + " #" + strconv.Itoa(v+1)
	r := rand.New(rand.NewPCG(uint64(k), 20260217))
	hdr := g.sp.SubmissionHeader()
	hline := strings.Join(hdr, ",")
	a := &advCase{g: g, r: r, hdr: hdr, hline: hline}
	switch kind {
	case 0:
		return name, []byte([]string{"", "\n", "\r\n", " ", "\ufeff", "\x00", ",", "\n\n\n"}[v])
	case 1:
		return name, []byte([]string{hline, hline + "\n", hline + "\r\n", "\ufeff" + hline + "\n", hline + "\n\n", hline + ",\n", " " + hline + "\n", strings.ToUpper(hline) + "\n"}[v])
	case 2:
		return name, a.wrongHeader(v)
	case 3:
		return name, a.missingIDs(v)
	case 4:
		return name, a.duplicateIDs(v)
	case 5:
		return name, a.unknownIDs(v)
	case 6:
		return name, a.withAll([]string{"1e308", "-1e308", "1.7976931348623157e308", "5e-324", "-0", "1e-300", "9223372036854775807", "-9223372036854775808"}[v])
	case 7:
		return name, a.withOne([]string{"1e308", "-1e308", "1.7976931348623157e308", "-5e-324", "-1", "2", "9223372036854775807", "-9223372036854775808"}[v])
	case 8:
		return name, a.withAll([]string{"NaN", "nan", "inf", "-Infinity", "+Inf", "NA", "null", ""}[v])
	case 9:
		return name, a.withOne([]string{"NaN", "-nan", "Infinity", "-inf", "None", "#N/A", "undefined", " "}[v])
	case 10:
		cell := []string{strings.Repeat("1", 1<<20), strings.Repeat(" ", 1<<20), strings.Repeat("0", 1<<16) + "1",
			"0." + strings.Repeat("3", 1<<16), strings.Repeat("a\n", 1<<15), strings.Repeat("9", 400), "1" + strings.Repeat("0", 400), strings.Repeat("é", 1<<16)}[v]
		return name, a.withOne(cell)
	case 11:
		return name, a.hugeRow(v)
	case 12:
		return name, a.binaryGarbage(v)
	case 13:
		return name, a.formattingVariants(v)
	case 14:
		b := g.perfect()
		cut := []int{1, len(b) / 10, len(b) / 2, len(b) - 2, len(b) - 1, len(hline), len(hline) + 3, 2 * len(b) / 3}[v]
		return name, b[:max(0, min(cut, len(b)))]
	case 15:
		b := g.csv(hdr, g.all(), a.valid)
		sep := []string{";", "\t", "|", " ", ";", "\t", ", ", " ,"}[v]
		return name, bytes.ReplaceAll(b, []byte(","), []byte(sep))
	case 16:
		return name, a.withAll(g.constant(v))
	case 17:
		return name, g.csv(hdr, g.all(), a.valid)
	case 18:
		return name, a.withAll([]string{"1e0", "1.", ".5", "+1", "0001", "1_0", "0x1", "1,0"}[v])
	case 19:
		units := g.all()
		for range []int{1, 2, 3, 4, 5, 6, 7, 9}[v] {
			units = append(units, g.all()...)
		}
		return name, g.csv(hdr, units, a.valid)
	case 20:
		cell := []string{
			strings.TrimSpace(strings.Repeat("0.9 10 10 5 5 ", 1000)), "1.5 10 10 5 5", "0.5 10 10 -5 5", "0.5 10 10 5",
			"0.5 10 10 5 5 6", " 1 ", "1 ", "-0.0"}[v]
		return name, a.withAll(cell)
	case 21:
		return name, a.quoteGames(v)
	case 22:
		return name, a.lineEndings(v)
	case 23:
		return name, a.withAll([]string{"1e400", "-1e400", "1e-400", "1.0", "1e2", "0.5", "18446744073709551616", "-1e-400"}[v])
	default:
		return name, a.oddIDs(v)
	}
}

// advCase is what the adversarial families of one case share: the
// generator, the case's random stream (drawn from in a fixed order, so a
// case's bytes depend on k alone) and the submission header.
type advCase struct {
	g     *subgen
	r     *rand.Rand
	hdr   []string
	hline string
}

// valid is a random valid value for column col.
func (a *advCase) valid(row, col int) string { return a.g.randomValue(a.r, col) }

// withAll is a submission of every unit with s in every column.
func (a *advCase) withAll(s string) []byte {
	return a.g.csv(a.hdr, a.g.all(), func(int, int) string { return s })
}

// withOne is a submission of every unit with valid values, but s in every
// column of one random row.
func (a *advCase) withOne(s string) []byte {
	bad := a.r.IntN(a.g.n)
	return a.g.csv(a.hdr, a.g.all(), func(row, col int) string {
		if row == bad {
			return s
		}
		return a.g.randomValue(a.r, col)
	})
}

// wrongHeader is a valid body under variant v of a wrong header (variant v, 0..7).
func (a *advCase) wrongHeader(v int) []byte {
	h := append([]string(nil), a.hdr...)
	switch v {
	case 0:
		h[0] = h[0] + "_x"
	case 1:
		h[len(h)-1] = "prediction"
	case 2:
		h = h[:1]
	case 3:
		h = append(h, h[len(h)-1])
	case 4:
		h = append(h, "extra")
	case 5:
		h[0] = ""
	case 6:
		h[0] = " " + h[0] + " "
	case 7:
		h = append([]string{"Unnamed: 0"}, h...)
	}
	units := a.g.all()
	return a.g.csv(h, units, func(row, col int) string {
		if col < len(a.g.sp.Columns) {
			return a.g.randomValue(a.r, col)
		}
		return "1"
	})
}

// missingIDs is valid rows with some units left out (variant v, 0..7).
func (a *advCase) missingIDs(v int) []byte {
	units := a.g.all()
	switch v {
	case 0:
		units = units[1:]
	case 1:
		units = units[:len(units)-1]
	case 2:
		i := a.r.IntN(len(units))
		units = append(units[:i:i], units[i+1:]...)
	case 3:
		units = units[:len(units)/2]
	case 4:
		units = units[:1]
	default:
		var keep []int
		for _, u := range units {
			if a.r.IntN(v) != 0 {
				keep = append(keep, u)
			}
		}
		units = keep
	}
	return a.g.csv(a.hdr, units, a.valid)
}

// duplicateIDs is valid rows with some units given twice (variant v, 0..7).
func (a *advCase) duplicateIDs(v int) []byte {
	units := a.g.all()
	switch v {
	case 0:
		units = append(units, 0)
	case 1:
		units = append(units, units...)
	default:
		for range v {
			units = append(units, a.r.IntN(a.g.n))
		}
	}
	return a.g.csv(a.hdr, units, a.valid)
}

// unknownIDs is valid rows plus one row of an id the holdout does not have (variant v, 0..7).
func (a *advCase) unknownIDs(v int) []byte {
	b := a.g.csv(a.hdr, a.g.all(), a.valid)
	extra := []string{"unknown-1", "", " ", "0x10", "-0", strings.Repeat("9", 10000), "\"q\"\"", "id with spaces"}[v]
	var w bytes.Buffer
	w.Write(b)
	cw := csv.NewWriter(&w)
	rec := []string{extra}
	for j := range a.g.sp.Columns {
		rec = append(rec, a.g.randomValue(a.r, j))
	}
	_ = cw.Write(rec)
	cw.Flush()
	return w.Bytes()
}

// hugeRow is valid rows with one row given many extra fields (variant v, 0..7).
func (a *advCase) hugeRow(v int) []byte {
	b := a.g.csv(a.hdr, a.g.all(), a.valid)
	i := bytes.IndexByte(b, '\n') + 1
	var w bytes.Buffer
	w.Write(b[:i])
	w.Write(b[i : i+bytes.IndexByte(b[i:], '\n')])
	w.WriteString(strings.Repeat(",1", []int{1, 10, 100, 1000, 10000, 100000, 3, 30}[v]))
	w.Write(b[i+bytes.IndexByte(b[i:], '\n'):])
	return w.Bytes()
}

// binaryGarbage is random bytes (after a valid header for variant 7) (variant v, 0..7).
func (a *advCase) binaryGarbage(v int) []byte {
	n := []int{1, 16, 1 << 10, 1 << 14, 1 << 16, 1 << 18, 1 << 20, 100}[v]
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(a.r.Uint32())
	}
	if v == 7 {
		b = append([]byte(a.hline+"\n"), b...)
	}
	return b
}

// formattingVariants is valid rows in an unusual but valid format (BOM, CRLF, no final newline, quoting, other row orders) (variant v, 0..7).
func (a *advCase) formattingVariants(v int) []byte {
	b := a.g.csv(a.hdr, a.g.all(), a.valid)
	switch v {
	case 0:
		return append([]byte("\ufeff"), b...)
	case 1:
		return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
	case 2:
		return bytes.TrimSuffix(b, []byte("\n"))
	case 3:
		return append(b, '\n')
	case 4:
		units := a.g.all()
		a.r.Shuffle(len(units), func(i, j int) { units[i], units[j] = units[j], units[i] })
		return a.g.csv(a.hdr, units, a.valid)
	case 5:
		var w bytes.Buffer
		for li, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if li > 0 {
				w.WriteByte('\n')
			}
			fields := strings.Split(line, ",")
			for fi, f := range fields {
				if fi > 0 {
					w.WriteByte(',')
				}
				if strings.HasPrefix(f, `"`) {
					w.WriteString(f)
				} else {
					w.WriteString(`"` + f + `"`)
				}
			}
		}
		w.WriteByte('\n')
		return w.Bytes()
	case 6:
		units := a.g.all()
		for i, j := 0, len(units)-1; i < j; i, j = i+1, j-1 {
			units[i], units[j] = units[j], units[i]
		}
		return a.g.csv(a.hdr, units, a.valid)
	default:
		return append(b, []byte("\n\n")...)
	}
}

// quoteGames is rows with misplaced, unclosed or doubled quotes (variant v, 0..7).
func (a *advCase) quoteGames(v int) []byte {
	b := a.g.csv(a.hdr, a.g.all(), a.valid)
	switch v {
	case 0:
		return append(b, '"')
	case 1:
		return append([]byte(`"`+a.hline+`"`+"\n"), b[bytes.IndexByte(b, '\n')+1:]...)
	case 2:
		return bytes.Replace(b, []byte("\n"), []byte("\n\""), 2)
	case 3:
		return a.withOne(`""`)
	case 4:
		return a.withOne(`1"2`)
	case 5:
		return a.withOne("\"\n\"")
	case 6:
		return bytes.ReplaceAll(b, []byte(","), []byte(`","`))
	default:
		return a.withOne(strings.Repeat(`"`, 101))
	}
}

// lineEndings is rows with odd line endings and control or non-ASCII bytes (variant v, 0..7).
func (a *advCase) lineEndings(v int) []byte {
	b := a.g.csv(a.hdr, a.g.all(), a.valid)
	switch v {
	case 0:
		return bytes.ReplaceAll(b, []byte("\n"), []byte("\r"))
	case 1:
		return bytes.Replace(b, []byte("\n"), []byte("\r\n"), 1)
	case 2:
		return a.withOne("1\r2")
	case 3:
		return bytes.ReplaceAll(b, []byte("\n"), []byte("\n\r"))
	case 4:
		return a.withOne("\x00")
	case 5:
		return a.withOne("\xff\xfe")
	case 6:
		return bytes.ReplaceAll(b, []byte("\n"), []byte("\u2028"))
	default:
		return a.withOne("\u00a0")
	}
}

// oddIDs is valid rows with the first id changed in a way that looks the same (variant v, 0..7).
func (a *advCase) oddIDs(v int) []byte {
	b := a.g.csv(a.hdr, a.g.all(), a.valid)
	i := bytes.IndexByte(b, '\n') + 1
	id := string(a.g.hd.ID(a.r.IntN(a.g.n)))
	alt := []string{" " + id, id + " ", strings.ToUpper(id) + "X", "0" + id, id + ".0", "+" + id, id + "\x00", "\ufeff" + id}[v]
	rest := b[i:]
	j := bytes.IndexByte(rest, ',')
	if j < 0 {
		return b
	}
	return append(append(append([]byte(nil), b[:i]...), alt...), rest[j:]...)
}

// constant is a valid value set for every unit: variant v of the extremes
// of the first column's range.
func (g *subgen) constant(v int) string {
	c := g.sp.Columns[0]
	switch c.Type {
	case spec.Int:
		return strconv.FormatInt([]int64{c.Min, c.Max, c.Min, c.Max, (c.Min + c.Max) / 2, c.Min, c.Max, c.Min}[v], 10)
	case spec.Float:
		return []string{"0", "1", "0.5", "-0", "1e-9", "0.999999999", "5e-324", "1"}[v]
	}
	return []string{"", "1 0 0 1 1", "0 0 0 1 1", "", "0.5 0 0 1024 1024", "", "1 1 1 1 1", ""}[v]
}
