package competitions

import "context"

// Claim exposes the worker's claim for tests: it leases the next submission
// and returns its id and lease token (0 when there is none).
func (w *Worker) Claim(ctx context.Context) (int64, string, error) {
	cl, err := w.claim(ctx, 0)
	if err != nil || cl == nil {
		return 0, "", err
	}
	return cl.sub.ID, cl.token, nil
}

// ErrLeaseLost is the unexported errLeaseLost, for tests.
var ErrLeaseLost = errLeaseLost
