package sessions

import "github.com/prometheus/client_golang/prometheus"

// metrics are the runtime's Prometheus series; the zero value (before
// RegisterMetrics) records nothing.
type metrics struct {
	created   *prometheus.CounterVec // by exposure
	refused   *prometheus.CounterVec // by reason
	startSecs prometheus.Histogram
	stopped   *prometheus.CounterVec // by stop reason
	failed    prometheus.Counter
	passSecs  prometheus.Histogram
	passFails prometheus.Counter
	orphans   prometheus.Counter
	gpuGated  prometheus.Counter
	queued    prometheus.Counter
	granted   prometheus.Counter
	pruned    *prometheus.CounterVec // by rule
}

// RegisterMetrics registers the session runtime's series on reg:
// medforge_sessions_created_total{exposure}, _refused_total{reason},
// _start_seconds (create -> running), _stopped_total{reason},
// _start_failures_total, medforge_session_recovery_pass_seconds,
// _recovery_pass_failures_total, _orphans_removed_total and
// medforge_gpu_health_gate_failures_total, medforge_session_queue_joined_total,
// _queue_granted_total and medforge_snapshots_pruned_total{rule}.
func (s *Service) RegisterMetrics(reg prometheus.Registerer) error {
	m := &metrics{
		created: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "medforge_sessions_created_total", Help: "Sessions allocated, by exposure."}, []string{"exposure"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "medforge_sessions_refused_total", Help: "Session creates refused, by reason (limit, no_gpu, isolation)."}, []string{"reason"}),
		startSecs: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "medforge_sessions_start_seconds", Help: "Time from allocation to the IDE answering.",
			Buckets: []float64{0.25, 0.5, 1, 2, 5, 10, 30, 60, 120}}),
		stopped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "medforge_sessions_stopped_total", Help: "Stops finalized (snapshot taken), by reason."}, []string{"reason"}),
		failed:  prometheus.NewCounter(prometheus.CounterOpts{Name: "medforge_sessions_start_failures_total", Help: "Sessions that ended in error while starting."}),
		passSecs: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "medforge_session_recovery_pass_seconds", Help: "Duration of one recovery pass.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 8)}),
		passFails: prometheus.NewCounter(prometheus.CounterOpts{Name: "medforge_session_recovery_pass_failures_total", Help: "Recovery passes that failed."}),
		orphans:   prometheus.NewCounter(prometheus.CounterOpts{Name: "medforge_session_orphans_removed_total", Help: "Containers removed because no active session owned them."}),
		gpuGated:  prometheus.NewCounter(prometheus.CounterOpts{Name: "medforge_gpu_health_gate_failures_total", Help: "GPUs disabled by the health gate on release."}),
		queued:    prometheus.NewCounter(prometheus.CounterOpts{Name: "medforge_session_queue_joined_total", Help: "Session requests that joined the GPU waitlist."}),
		granted:   prometheus.NewCounter(prometheus.CounterOpts{Name: "medforge_session_queue_granted_total", Help: "Queued requests handed a freed GPU."}),
		pruned:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "medforge_snapshots_pruned_total", Help: "Snapshots deleted by retention, by rule."}, []string{"rule"}),
	}
	for _, c := range []prometheus.Collector{m.created, m.refused, m.startSecs, m.stopped, m.failed, m.passSecs, m.passFails, m.orphans, m.gpuGated, m.queued, m.granted, m.pruned} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.m = m
	s.mu.Unlock()
	return nil
}

func (s *Service) metrics() *metrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m
}
