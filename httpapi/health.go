package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// HealthCheck probes one subsystem; nil means healthy. It is called with a
// short deadline on every GET /healthz.
type HealthCheck func(ctx context.Context) error

// Health is the registry behind GET /healthz: 200 "ok" when every
// subsystem is healthy, else 503 "degraded". Subsystems either register a
// HealthCheck (pulled on each request) or hold a HealthReporter and push
// their state (for loops such as session recovery or the scoring worker).
// It is safe for concurrent use.
type Health struct {
	mu        sync.Mutex
	checks    map[string]HealthCheck
	reporters map[string]*HealthReporter
	log       *slog.Logger
}

// NewHealth returns an empty registry.
func NewHealth() *Health {
	return &Health{checks: map[string]HealthCheck{}, reporters: map[string]*HealthReporter{}}
}

// Register adds a pulled check under name, replacing one of the same name.
func (h *Health) Register(name string, check HealthCheck) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks[name] = check
}

// Reporter returns the push-style reporter for name, creating it in state
// "starting" (degraded until its first OK). With maxAge > 0, a reporter that
// has not reported within maxAge counts as degraded ("stale"), so a hung
// loop shows up.
func (h *Health) Reporter(name string, maxAge time.Duration) *HealthReporter {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r, ok := h.reporters[name]; ok {
		return r
	}
	r := &HealthReporter{name: name, maxAge: maxAge, err: errStarting}
	h.reporters[name] = r
	return r
}

var errStarting = errors.New("starting")

// HealthReporter holds a subsystem's last reported state.
type HealthReporter struct {
	name   string
	maxAge time.Duration
	mu     sync.Mutex
	err    error
	at     time.Time
}

// Report records the subsystem's state now: nil is healthy.
func (r *HealthReporter) Report(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err, r.at = err, time.Now()
}

// OK is Report(nil).
func (r *HealthReporter) OK() { r.Report(nil) }

func (r *HealthReporter) state() (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.err == errStarting:
		return "starting", r.err
	case r.err != nil:
		return "degraded", r.err
	case r.maxAge > 0 && time.Since(r.at) > r.maxAge:
		return "stale", errors.New("no report within " + r.maxAge.String())
	}
	return "ok", nil
}

// SubsystemState is one entry of the /healthz answer.
type SubsystemState struct {
	Status string `json:"status"`
}

// HealthReport is the /healthz body. Error texts are logged, not reported.
type HealthReport struct {
	Status     string                    `json:"status"`
	Subsystems map[string]SubsystemState `json:"subsystems"`
}

// Check runs every check (in parallel, each with a 2s deadline) and
// returns the report; Status is "ok" only when every subsystem is ok.
func (h *Health) Check(ctx context.Context) HealthReport {
	h.mu.Lock()
	checks := make(map[string]HealthCheck, len(h.checks))
	for k, v := range h.checks {
		checks[k] = v
	}
	reporters := make([]*HealthReporter, 0, len(h.reporters))
	for _, r := range h.reporters {
		reporters = append(reporters, r)
	}
	log := h.log
	h.mu.Unlock()

	rep := HealthReport{Status: "ok", Subsystems: map[string]SubsystemState{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	set := func(name, status string, err error) {
		mu.Lock()
		defer mu.Unlock()
		rep.Subsystems[name] = SubsystemState{Status: status}
		if status != "ok" {
			rep.Status = "degraded"
			if log != nil && err != nil {
				log.WarnContext(ctx, "health check failed", "subsystem", name, "status", status, "err", err.Error())
			}
		}
	}
	for name, check := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			if err := check(cctx); err != nil {
				set(name, "degraded", err)
				return
			}
			set(name, "ok", nil)
		}()
	}
	wg.Wait()
	for _, r := range reporters {
		st, err := r.state()
		set(r.name, st, err)
	}
	return rep
}

// Names lists the registered subsystems, sorted.
func (h *Health) Names() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for k := range h.checks {
		out = append(out, k)
	}
	for k := range h.reporters {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
