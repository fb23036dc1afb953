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

// Validate scores nothing: it runs the engine's Score on file against the
// competition's current holdout and scorer, for benchmarks.
func (s *Service) Validate(ctx context.Context, slug string, file []byte) (float64, error) {
	c, err := s.competition(ctx, Viewer{Internal: true}, slug)
	if err != nil {
		return 0, err
	}
	h, err := s.holdoutOf(ctx, c)
	if err != nil {
		return 0, err
	}
	m, err := s.scorerOf(ctx, c)
	if err != nil {
		return 0, err
	}
	res, err := s.eng.Score(ctx, h, m, file)
	if err != nil {
		return 0, err
	}
	return res.PrimaryScore, nil
}
