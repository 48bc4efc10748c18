package jobs

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vworkspace/pushd/pkg/store"
)

// Metrics count what the runner does; register them with NewMetrics.
type Metrics struct {
	finished  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	operation *prometheus.HistogramVec
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
		// Operations run for hours (a backup), so the buckets reach a week.
		operation: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pushd_operation_duration_seconds", Help: "Operate jobs, from first start to terminal status, by engine, type and outcome (succeeded, or the error code).",
			Buckets: []float64{1, 10, 60, 300, 900, 1800, 3600, 7200, 4 * 3600, 12 * 3600, 24 * 3600, 7 * 24 * 3600},
		}, []string{"engine", "type", "outcome"}),
	}
	reg.MustRegister(m.finished, m.duration, m.operation)
	return m
}

func (m *Metrics) observe(cluster, action string, status store.JobStatus, code string, took time.Duration) {
	if m == nil {
		return
	}
	m.finished.WithLabelValues(cluster, action, string(status), code).Inc()
	m.duration.WithLabelValues(cluster, action).Observe(took.Seconds())
}

// observeOperation counts an operate job that ended; the outcome label is
// its status when it succeeded or was cancelled, else its error code.
func (m *Metrics) observeOperation(engine, typ string, status store.JobStatus, code string, took time.Duration) {
	if m == nil {
		return
	}
	outcome := string(status)
	if status == store.JobFailed && code != "" {
		outcome = code
	}
	m.operation.WithLabelValues(engine, typ, outcome).Observe(took.Seconds())
}
