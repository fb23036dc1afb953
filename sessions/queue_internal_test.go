package sessions

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/store/db"
)

// queuedRow is a queued request of exposure x that arrived at minute t,
// listed in fair-share order by the caller.
func queuedRow(id int64, x Exposure, t int) db.ListQueuedFairRow {
	return db.ListQueuedFairRow{
		ID: id, Exposure: db.SessionQueueExposure(x),
		CreatedAt: time.Date(2026, 12, 7, 12, t, 0, 0, time.UTC),
	}
}

// The merge of the two exposures' queues: each keeps its fair-share order,
// and between them the head that arrived first goes next (ties by id);
// a head passed over drops out of the pass and its queue's next request
// competes in its place.
func TestQueuesNext(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		rows     []db.ListQueuedFairRow // fair-share order within each exposure
		passOver map[int64]bool
		want     []int64
	}{
		{name: "empty", want: nil},
		{name: "one exposure keeps fair-share order even against arrival",
			rows: []db.ListQueuedFairRow{queuedRow(2, External, 5), queuedRow(1, External, 1)},
			want: []int64{2, 1}},
		{name: "older head first",
			rows: []db.ListQueuedFairRow{queuedRow(1, External, 3), queuedRow(2, Internal, 1), queuedRow(3, External, 4), queuedRow(4, Internal, 2)},
			want: []int64{2, 4, 1, 3}},
		{name: "heads compared, not whole queues",
			// The internal head arrived late (a light user overtook in fair
			// share), so the external head goes first although an older
			// internal request waits behind it.
			rows: []db.ListQueuedFairRow{queuedRow(1, Internal, 10), queuedRow(2, Internal, 1), queuedRow(3, External, 5)},
			want: []int64{3, 1, 2}},
		{name: "same instant: lower id",
			rows: []db.ListQueuedFairRow{queuedRow(7, Internal, 1), queuedRow(6, External, 1)},
			want: []int64{6, 7}},
		{name: "a passed-over head lets its queue's next compete",
			rows:     []db.ListQueuedFairRow{queuedRow(1, Internal, 10), queuedRow(2, Internal, 1), queuedRow(3, External, 5)},
			passOver: map[int64]bool{1: true},
			want:     []int64{2, 3}},
		{name: "a whole queue passed over",
			rows:     []db.ListQueuedFairRow{queuedRow(1, Internal, 1), queuedRow(2, External, 5)},
			passOver: map[int64]bool{1: true},
			want:     []int64{2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			qs := splitQueues(c.rows)
			var got []int64
			for {
				r, ok, err := qs.next(func(r db.ListQueuedFairRow) (bool, error) { return c.passOver[r.ID], nil })
				require.NoError(t, err)
				if !ok {
					break
				}
				got = append(got, r.ID)
			}
			assert.Equal(t, c.want, got)
		})
	}
}

// No exposure starves: an INTERNAL request that is its queue's head is
// served after at most the EXTERNAL requests that arrived before it (here
// 10 of 50), however many lighter EXTERNAL users arrive later and however
// fair share orders the EXTERNAL queue.
func TestQueuesNextStarvationFree(t *testing.T) {
	t.Parallel()
	const older = 10
	head := queuedRow(1, Internal, older)
	var ext []db.ListQueuedFairRow
	for i := range 50 { // minutes 0..49 (the head came at minute 10)
		ext = append(ext, queuedRow(int64(100+i), External, i))
	}
	reversed := slices.Clone(ext)
	slices.Reverse(reversed)
	orders := []struct {
		name    string
		ext     []db.ListQueuedFairRow
		exactly int // -1: at most older
	}{
		{"arrival order", ext, older},
		{"latest first", reversed, 0},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		shuffled := slices.Clone(ext)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		orders = append(orders, struct {
			name    string
			ext     []db.ListQueuedFairRow
			exactly int
		}{fmt.Sprintf("shuffle %d", i), shuffled, -1})
	}
	for _, o := range orders {
		qs := splitQueues(append([]db.ListQueuedFairRow{head}, o.ext...))
		grants := 0
		for {
			r, ok, err := qs.next(nil)
			require.NoError(t, err)
			require.True(t, ok, o.name)
			if r.ID == head.ID {
				break
			}
			grants++
		}
		if o.exactly >= 0 {
			assert.Equal(t, o.exactly, grants, o.name)
		} else {
			assert.LessOrEqual(t, grants, older, o.name)
		}
	}
}
