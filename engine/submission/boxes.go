package submission

import (
	"fmt"

	"github.com/medforge/medforge/engine/strictcsv"
)

// ParsePredictionString is ParseBoxes without a limit on the boxes.
func ParsePredictionString(s []byte, dst []float64) ([]float64, string) {
	return ParseBoxes(s, dst, 0)
}

// ParseBoxes appends the numbers of a detection
// PredictionString to dst and returns it. The string holds zero or more
// groups "confidence x y width height" of finite decimal numbers separated
// by spaces or tabs (leading, trailing and repeated separators are
// allowed); confidence must be in [0,1], width and height positive. On
// failure it returns dst unchanged and a message naming the offending
// number and group. maxBoxes > 0 refuses a string of more boxes than that
// as soon as the first number past the limit is seen, so at most maxBoxes
// boxes are ever appended.
func ParseBoxes(s []byte, dst []float64, maxBoxes int) ([]float64, string) {
	start := len(dst)
	k := 0 // numbers read
	for i := 0; i < len(s); {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i >= len(s) {
			break
		}
		j := i
		for j < len(s) && s[j] != ' ' && s[j] != '\t' {
			j++
		}
		tok := s[i:j]
		i = j
		if maxBoxes > 0 && k == 5*maxBoxes {
			return dst[:start], fmt.Sprintf("has more than %d boxes; this competition accepts at most %d boxes per row", maxBoxes, maxBoxes)
		}
		v, ok := strictcsv.ParseFloat(tok)
		group, part := k/5+1, k%5
		if !ok {
			return dst[:start], fmt.Sprintf("box %d: %s %s is not a finite decimal number", group, boxPart[part], strictcsv.Show(tok))
		}
		switch {
		case part == 0 && (v < 0 || v > 1):
			return dst[:start], fmt.Sprintf("box %d: confidence %s must be in [0,1]", group, strictcsv.Show(tok))
		case part >= 3 && v <= 0:
			return dst[:start], fmt.Sprintf("box %d: %s %s must be positive", group, boxPart[part], strictcsv.Show(tok))
		}
		dst = append(dst, v)
		k++
	}
	if k%5 != 0 {
		return dst[:start], fmt.Sprintf("has %d numbers, not groups of 5 (confidence x y width height)", k)
	}
	return dst, ""
}

var boxPart = [5]string{"confidence", "x", "y", "width", "height"}
