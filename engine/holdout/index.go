package holdout

import (
	"hash/maphash"
)

// Index maps unit ids to unit positions. It is immutable and safe for
// concurrent use. Lookups allocate nothing.
type Index struct {
	offsets []int32
	data    []byte
	// dense mode: every id is a canonical decimal integer in a compact
	// range; table[id-base] holds position+1.
	dense bool
	base  int64
	// identity: dense, and unit i has id base+i (sorted consecutive ids),
	// so no table is needed.
	identity bool
	// hash mode: open addressing, slots hold position+1.
	slots []int32
	mask  uint64
	seed  maphash.Seed
}

// canonicalInt parses b when it is the canonical decimal form of an int64
// (what strconv.FormatInt writes: no '+', no leading zeros, no "-0").
func canonicalInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg = true
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 || (b[0] == '0' && (len(b) > 1 || neg)) {
		return 0, false
	}
	var n int64
	for _, c := range b {
		d := c - '0'
		if d > 9 {
			return 0, false
		}
		n = n*10 + int64(d)
	}
	if neg {
		n = -n
	}
	return n, true
}

// newIndex builds the index of ids given as Arrow utf8 offsets and data.
// It returns the positions of the second occurrence of each duplicated id
// (with the first's position), at most maxDup of them.
func newIndex(offsets []int32, data []byte, maxDup int) (*Index, [][2]int) {
	n := len(offsets) - 1
	x := &Index{offsets: offsets, data: data}
	if x.buildDense(n, maxDup) {
		if x.identity {
			return x, nil
		}
		return x, x.denseDups(n, maxDup)
	}
	size := 1
	for size < 2*n+2 {
		size <<= 1
	}
	x.slots = make([]int32, size)
	x.mask = uint64(size - 1)
	x.seed = maphash.MakeSeed()
	var dups [][2]int
	for i := 0; i < n; i++ {
		id := data[offsets[i]:offsets[i+1]]
		h := maphash.Bytes(x.seed, id) & x.mask
		for {
			s := x.slots[h]
			if s == 0 {
				x.slots[h] = int32(i + 1)
				break
			}
			if string(x.id(int(s-1))) == string(id) {
				if len(dups) < maxDup {
					dups = append(dups, [2]int{int(s - 1), i})
				}
				break
			}
			h = (h + 1) & x.mask
		}
	}
	return x, dups
}

func (x *Index) id(i int) []byte { return x.data[x.offsets[i]:x.offsets[i+1]] }

// buildDense tries the dense mode; it fails when an id is not a canonical
// integer or the range is more than four times the count (plus slack).
func (x *Index) buildDense(n, maxDup int) bool {
	if n == 0 {
		return false
	}
	lo, hi := int64(1<<62), int64(-1<<62)
	first, _ := canonicalInt(x.id(0))
	seq := true // ids so far are first, first+1, ...
	for i := 0; i < n; i++ {
		v, ok := canonicalInt(x.id(i))
		if !ok {
			return false
		}
		seq = seq && v == first+int64(i)
		lo, hi = min(lo, v), max(hi, v)
	}
	if seq {
		x.dense, x.identity, x.base = true, true, first
		return true
	}
	if hi-lo > 4*int64(n)+1024 {
		return false
	}
	x.dense, x.base = true, lo
	x.slots = make([]int32, hi-lo+1)
	return true
}

func (x *Index) denseDups(n, maxDup int) [][2]int {
	var dups [][2]int
	for i := 0; i < n; i++ {
		v, _ := canonicalInt(x.id(i))
		s := &x.slots[v-x.base]
		if *s != 0 {
			if len(dups) < maxDup {
				dups = append(dups, [2]int{int(*s - 1), i})
			}
			continue
		}
		*s = int32(i + 1)
	}
	return dups
}

// Lookup returns the position of the unit whose id is exactly id (byte for
// byte: "007" and "7" are different ids).
func (x *Index) Lookup(id []byte) (int, bool) {
	if x.identity {
		v, ok := canonicalInt(id)
		if !ok || v < x.base || v-x.base >= int64(len(x.offsets)-1) {
			return 0, false
		}
		return int(v - x.base), true
	}
	if x.dense {
		v, ok := canonicalInt(id)
		if !ok || v < x.base || v-x.base >= int64(len(x.slots)) {
			return 0, false
		}
		s := x.slots[v-x.base]
		return int(s - 1), s != 0
	}
	if len(x.slots) == 0 {
		return 0, false
	}
	h := maphash.Bytes(x.seed, id) & x.mask
	for {
		s := x.slots[h]
		if s == 0 {
			return 0, false
		}
		if string(x.id(int(s-1))) == string(id) {
			return int(s - 1), true
		}
		h = (h + 1) & x.mask
	}
}
