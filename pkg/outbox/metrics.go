package outbox

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vworkspace/pushd/pkg/store"
)

// Metrics count what the Deliverer does. A nil *Metrics counts nothing.
type Metrics struct {
	// Delivered counts events delivered, by event type.
	Delivered *prometheus.CounterVec
	// Failed counts failed attempts, by reason: "status" (the receiver
	// answered non-2xx), "transport" (no answer) or "no_receiver" (the
	// event's organization has no callback receiver: nothing was sent).
	Failed *prometheus.CounterVec
	// Parked counts events parked after their attempt budget was spent, by
	// event type.
	Parked *prometheus.CounterVec
}

// RegisterParkedGauge registers pushd_callbacks_parked, the number of
// events parked now (all organizations), read from the store at each scrape.
func RegisterParkedGauge(reg prometheus.Registerer, st *store.Store) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pushd_callbacks_parked",
		Help: "Callback events parked now: their attempt budget is spent and they wait for a re-send on request.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // a scrape has no context of its own
		defer cancel()
		n, err := st.CountParkedEvents(ctx)
		if err != nil {
			return math.NaN()
		}
		return float64(n)
	}))
}

// RegisterBacklogGauges registers pushd_callbacks_backlog, the events
// waiting for delivery, and pushd_callbacks_oldest_age_seconds, how long
// the oldest of them has waited (by now), both read from the store at each
// scrape. The age is what to alert on: it grows only while nothing is
// delivered.
func RegisterBacklogGauges(reg prometheus.Registerer, st *store.Store, now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	backlog := func() (int64, time.Time, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // a scrape has no context of its own
		defer cancel()
		return st.OutboxBacklog(ctx)
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pushd_callbacks_backlog",
		Help: "Callback events waiting for delivery (neither delivered nor parked).",
	}, func() float64 {
		n, _, err := backlog()
		if err != nil {
			return math.NaN()
		}
		return float64(n)
	}), prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pushd_callbacks_oldest_age_seconds",
		Help: "Age of the oldest callback event waiting for delivery; 0 when none waits.",
	}, func() float64 {
		_, oldest, err := backlog()
		switch {
		case err != nil:
			return math.NaN()
		case oldest.IsZero():
			return 0
		}
		return now().Sub(oldest).Seconds()
	}))
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
			Help: "Failed callback attempts, by reason (status: non-2xx answer, transport: no answer, no_receiver: the event's organization has no callback receiver, nothing sent).",
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
	switch {
	case errors.As(err, &ae) && ae.NoReceiver:
		reason = "no_receiver"
	case ae != nil && ae.Status != 0:
		reason = "status"
	}
	m.Failed.WithLabelValues(reason).Inc()
}
