package health

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The per-cluster gauges: what to alert on when a cluster is unreachable,
// its breaker open or its credential about to expire. They are read from
// the monitor's last observations at each scrape, so they are never staler
// than the probes.
var (
	connectivityDesc = prometheus.NewDesc("pushd_cluster_connectivity",
		"1 for the cluster's current connectivity state (ready, unreachable, unauthorized, no_credentials), 0 for the others.",
		[]string{"cluster", "state"}, nil)
	breakerDesc = prometheus.NewDesc("pushd_cluster_breaker",
		"1 for the state of the cluster's circuit breaker in this process (closed, open, half-open), 0 for the others.",
		[]string{"cluster", "state"}, nil)
	expiryDesc = prometheus.NewDesc("pushd_cluster_credential_expiry_seconds",
		"Seconds until the cluster's credential expires (negative once expired); absent when it does not expire.",
		[]string{"cluster"}, nil)
)

var (
	allStates   = []State{StateReady, StateUnreachable, StateUnauthorized, StateNoCredentials}
	allBreakers = []string{BreakerClosed, BreakerOpen, BreakerHalfOpen}
)

// RegisterGauges registers the per-cluster gauges of m's clusters with reg.
func RegisterGauges(reg prometheus.Registerer, m *Monitor) {
	reg.MustRegister(gauges{m})
}

type gauges struct{ m *Monitor }

func (g gauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- connectivityDesc
	ch <- breakerDesc
	ch <- expiryDesc
}

func (g gauges) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // a scrape has no context of its own
	defer cancel()
	all, err := g.m.ObservedAll(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(connectivityDesc, err)
		return
	}
	now := g.m.opts.Now()
	for id, st := range all {
		for _, s := range allStates {
			ch <- prometheus.MustNewConstMetric(connectivityDesc, prometheus.GaugeValue, is(st.Connectivity.State == s), id, string(s))
		}
		for _, b := range allBreakers {
			ch <- prometheus.MustNewConstMetric(breakerDesc, prometheus.GaugeValue, is(st.Connectivity.Breaker == b), id, b)
		}
		if exp := st.Credential.Expiry; exp != nil {
			ch <- prometheus.MustNewConstMetric(expiryDesc, prometheus.GaugeValue, exp.Sub(now).Seconds(), id)
		}
	}
}

func is(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
