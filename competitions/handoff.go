package competitions

import (
	"sync"

	"github.com/medforge/medforge/engine"
)

// Bounds of the handoff: a few hundred queued submissions, and never more
// aligned units than a handful of the largest files would give, so memory
// stays bounded under any upload rate.
const (
	handoffMaxEntries = 256
	handoffMaxUnits   = 4 << 20
)

// handoff keeps submissions that intake validated and aligned, by
// submission id, for this process's worker: it scores them without reading
// and parsing the stored file a second time. It is only a shortcut: a
// submission missing here (scored by another process, evicted, or after a
// restart) is read from its file. Safe for concurrent use.
type handoff struct {
	mu    sync.Mutex
	byID  map[int64]*engine.Validated
	order []int64 // oldest first; may hold ids already taken
	units int
}

func newHandoff() *handoff { return &handoff{byID: map[int64]*engine.Validated{}} }

// put keeps v for submission id, evicting the oldest entries past the bounds.
func (h *handoff) put(id int64, v *engine.Validated) {
	if v.Units() > handoffMaxUnits {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.byID[id] = v
	h.order = append(h.order, id)
	h.units += v.Units()
	for len(h.byID) > handoffMaxEntries || h.units > handoffMaxUnits || len(h.order) > 4*handoffMaxEntries {
		old := h.order[0]
		h.order = h.order[1:]
		if ov, ok := h.byID[old]; ok {
			h.units -= ov.Units()
			delete(h.byID, old)
		}
	}
}

// take returns and forgets the aligned submission id, or nil.
func (h *handoff) take(id int64) *engine.Validated {
	h.mu.Lock()
	defer h.mu.Unlock()
	v := h.byID[id]
	if v != nil {
		h.units -= v.Units()
		delete(h.byID, id)
	}
	return v
}
