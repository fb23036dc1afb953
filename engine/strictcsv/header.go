package strictcsv

import (
	"fmt"
	"strings"
)

// MatchHeader maps the wanted column names to their positions in header,
// which must name exactly the wanted columns, in any order. Missing and
// unexpected columns are added to probs, each named; ok is false when there
// were any. Duplicate names are reported by NewReader.
func MatchHeader(header, want []string, probs *Problems) (pos []int, ok bool) {
	at := make(map[string]int, len(header))
	for i, h := range header {
		if _, dup := at[h]; !dup {
			at[h] = i
		}
	}
	ok = true
	pos = make([]int, len(want))
	wanted := make(map[string]bool, len(want))
	for i, w := range want {
		wanted[w] = true
		p, found := at[w]
		if !found {
			probs.Add(Problem{Row: 1, Column: w, Message: fmt.Sprintf("required column is missing (the header must be %s, in any order)", strings.Join(want, ","))})
			ok = false
			continue
		}
		pos[i] = p
	}
	for _, h := range header {
		if h != "" && !wanted[h] {
			msg := "unexpected column"
			for _, w := range want {
				if strings.EqualFold(strings.TrimSpace(h), w) {
					msg = fmt.Sprintf("unexpected column (did you mean %q? names are case- and space-sensitive)", w)
				}
			}
			probs.Add(Problem{Row: 1, Column: h, Message: msg})
			ok = false
		}
	}
	return pos, ok
}
