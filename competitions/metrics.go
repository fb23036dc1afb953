package competitions

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var latencyBuckets = []float64{.01, .025, .05, .1, .2, .3, .5, .75, 1, 2, 5, 10, 30, 60}

type serviceMetrics struct {
	latency prometheus.Histogram
}

var metricsMu sync.Mutex

func (s *Service) observeLatency(d time.Duration) {
	metricsMu.Lock()
	h := s.metrics.latency
	metricsMu.Unlock()
	if h != nil {
		h.Observe(d.Seconds())
	}
}

// QueueState is the scoring queue as /healthz and /metrics report it.
type QueueState struct {
	Depth         int64   `json:"depth"`
	OldestAgeSecs float64 `json:"oldest_age_seconds"`
}

// Queue reads the scoring queue's depth and the age of its oldest item.
func (s *Service) Queue(ctx context.Context) (QueueState, error) {
	st, err := s.st.SubmissionQueueStats(ctx)
	if err != nil {
		return QueueState{}, err
	}
	q := QueueState{Depth: st.Depth}
	if t, ok := st.Oldest.(time.Time); ok && !t.IsZero() {
		q.OldestAgeSecs = s.now().Sub(t).Seconds()
	}
	return q, nil
}

// RegisterMetrics adds the scoring metrics to reg: the queue depth and
// oldest age (read from the database at scrape time) and the latency from
// accepted submission to official score.
func (s *Service) RegisterMetrics(reg prometheus.Registerer) error {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "medforge_scoring_latency_seconds",
		Help:    "Time from an accepted submission to its official score, for scorings done by this process.",
		Buckets: latencyBuckets,
	})
	if err := reg.Register(h); err != nil {
		return err
	}
	metricsMu.Lock()
	s.metrics.latency = h
	metricsMu.Unlock()
	return reg.Register(&queueCollector{s: s,
		depth: prometheus.NewDesc("medforge_scoring_queue_depth", "Submissions waiting to be scored or rescored.", nil, nil),
		age:   prometheus.NewDesc("medforge_scoring_queue_oldest_age_seconds", "Age of the oldest waiting submission.", nil, nil),
	})
}

type queueCollector struct {
	s          *Service
	depth, age *prometheus.Desc
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.depth; ch <- c.age }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	q, err := c.s.Queue(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.depth, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(q.Depth))
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, q.OldestAgeSecs)
}
