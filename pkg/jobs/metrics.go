package jobs

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vworkspace/pushd/pkg/store"
)

// Metrics count what the runner does; register them with NewMetrics.
type Metrics struct {
	finished *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics registers the job metrics with reg. The cluster label is
// bounded by the number of clusters pushd serves.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pushd_jobs_finished_total", Help: "Jobs that reached a terminal status, by cluster, action, status and error code.",
		}, []string{"cluster", "action", "status", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pushd_job_duration_seconds", Help: "From claim to terminal status, by cluster and action.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}, []string{"cluster", "action"}),
	}
	reg.MustRegister(m.finished, m.duration)
	return m
}

func (m *Metrics) observe(cluster, action string, status store.JobStatus, code string, took time.Duration) {
	if m == nil {
		return
	}
	m.finished.WithLabelValues(cluster, action, string(status), code).Inc()
	m.duration.WithLabelValues(cluster, action).Observe(took.Seconds())
}
