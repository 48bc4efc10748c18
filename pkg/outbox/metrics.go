package outbox

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics count what the Deliverer does. A nil *Metrics counts nothing.
type Metrics struct {
	// Delivered counts events delivered, by event type.
	Delivered *prometheus.CounterVec
	// Failed counts failed attempts, by reason: "status" (the receiver
	// answered non-2xx) or "transport" (no answer).
	Failed *prometheus.CounterVec
	// Parked counts events parked after their attempt budget was spent, by
	// event type.
	Parked *prometheus.CounterVec
}

// NewMetrics creates the outbox's counters and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pushd_callbacks_delivered_total",
			Help: "Callback events delivered (answered 2xx), by event type.",
		}, []string{"type"}),
		Failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pushd_callback_attempts_failed_total",
			Help: "Failed callback attempts, by reason (status: non-2xx answer, transport: no answer).",
		}, []string{"reason"}),
		Parked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pushd_callbacks_parked_total",
			Help: "Callback events parked after their attempt budget was spent, by event type.",
		}, []string{"type"}),
	}
	reg.MustRegister(m.Delivered, m.Failed, m.Parked)
	return m
}

func (m *Metrics) delivered(typ string) {
	if m != nil {
		m.Delivered.WithLabelValues(typ).Inc()
	}
}

func (m *Metrics) parked(typ string) {
	if m != nil {
		m.Parked.WithLabelValues(typ).Inc()
	}
}

func (m *Metrics) failed(err error) {
	if m == nil {
		return
	}
	reason := "transport"
	var ae *attemptError
	if errors.As(err, &ae) && ae.Status != 0 {
		reason = "status"
	}
	m.Failed.WithLabelValues(reason).Inc()
}
