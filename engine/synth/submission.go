package synth

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/medforge/medforge/engine/spec"
)

// SubmissionOptions shape a generated submission. The zero value is a
// perfect submission in holdout order with LF line ends.
type SubmissionOptions struct {
	// Noise is the chance that a unit's prediction is wrong: a different
	// class for classification; for detection, the chance that each true
	// box is missed, and the scale of the jitter and of false positives.
	Noise float64
	// Shuffle writes the rows in a random order.
	Shuffle bool
	// CRLF ends lines with CRLF; BOM prefixes a byte order mark.
	CRLF, BOM bool
	// QuoteAll quotes every field.
	QuoteAll bool
	// ReverseColumns writes the columns in reverse order.
	ReverseColumns bool
	// CoarseConfidence rounds detection confidences to one decimal, so
	// that ties in confidence are common.
	CoarseConfidence bool
}

// Submission generates a valid submission for the data set, deterministic
// in seed and o.
func (f *Files) Submission(seed uint64, o SubmissionOptions) []byte {
	rng := rand.New(rand.NewPCG(seed, 0x7375626d))
	sp, _ := spec.Builtin(f.Slug)
	cols := sp.SubmissionHeader()
	vals := make([][2]string, len(f.ids))
	for u, id := range f.ids {
		vals[u][0] = id
		if f.boxes != nil {
			vals[u][1] = predictionString(rng, f.boxes[u], o)
			continue
		}
		y := f.label[u]
		if rng.Float64() < o.Noise {
			c := sp.Columns[0]
			y = c.Min + (y-c.Min+1+rng.Int64N(c.Max-c.Min))%(c.Max-c.Min+1)
		}
		vals[u][1] = fmt.Sprint(y)
	}
	if o.Shuffle {
		rng.Shuffle(len(vals), func(i, j int) { vals[i], vals[j] = vals[j], vals[i] })
	}
	eol := "\n"
	if o.CRLF {
		eol = "\r\n"
	}
	var b bytes.Buffer
	if o.BOM {
		b.WriteString("\xef\xbb\xbf")
	}
	write := func(a, c string) {
		if o.ReverseColumns {
			a, c = c, a
		}
		if o.QuoteAll {
			a, c = quote(a), quote(c)
		}
		b.WriteString(a)
		b.WriteByte(',')
		b.WriteString(c)
		b.WriteString(eol)
	}
	write(cols[0], cols[1])
	for _, v := range vals {
		write(v[0], v[1])
	}
	return b.Bytes()
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// predictionString draws predictions for an image: each true box found
// with probability 1-Noise and jittered by up to Noise*50 pixels per
// side, plus false positives (on average Noise*2), in random order.
func predictionString(rng *rand.Rand, gt []float64, o SubmissionOptions) string {
	var preds [][5]float64
	conf := func() float64 {
		c := rng.Float64()
		if o.CoarseConfidence {
			return float64(int(c*10+0.5)) / 10
		}
		return float64(int(c*10000)) / 10000
	}
	for k := 0; k < len(gt); k += 4 {
		if rng.Float64() < o.Noise {
			continue
		}
		j := func(v float64) float64 { return round1(v + (rng.Float64()*2-1)*o.Noise*50) }
		w, h := max(1, j(gt[k+2])), max(1, j(gt[k+3]))
		preds = append(preds, [5]float64{conf(), j(gt[k]), j(gt[k+1]), w, h})
	}
	for rng.Float64() < o.Noise*0.67 {
		w, h := round1(50+rng.Float64()*300), round1(50+rng.Float64()*300)
		preds = append(preds, [5]float64{conf(), round1(rng.Float64() * 900), round1(rng.Float64() * 900), w, h})
	}
	rng.Shuffle(len(preds), func(i, j int) { preds[i], preds[j] = preds[j], preds[i] })
	parts := make([]string, 0, 5*len(preds))
	for _, p := range preds {
		for _, v := range p {
			parts = append(parts, fmtF(v))
		}
	}
	return strings.Join(parts, " ")
}
