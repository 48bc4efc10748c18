package leases

import "github.com/prometheus/client_golang/prometheus"

// The lease gauges: which clusters this replica observes, how many
// replicas share the work, and the writes fencing dropped. Read from the
// keeper's memory at each scrape (its last round, at most Renew old).
var (
	leaseHeldDesc = prometheus.NewDesc("pushd_cluster_lease_held",
		"1 for each cluster whose lease this replica holds: it probes, polls and drift-checks that cluster.",
		[]string{"cluster"}, nil)
	replicasLiveDesc = prometheus.NewDesc("pushd_replicas_live",
		"Replicas sharing the database whose heartbeat is recent, as this replica last counted them.",
		nil, nil)
	leaseDroppedDesc = prometheus.NewDesc("pushd_cluster_lease_dropped_writes_total",
		"Writes of observed state dropped because the cluster lease they were made under had been taken over, by what wrote (probe, poll, drift check).",
		[]string{"what"}, nil)
)

// RegisterGauges registers the lease gauges of l with reg.
func RegisterGauges(reg prometheus.Registerer, l *Keeper) {
	reg.MustRegister(leaseGauges{l})
}

type leaseGauges struct{ l *Keeper }

func (g leaseGauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- leaseHeldDesc
	ch <- replicasLiveDesc
	ch <- leaseDroppedDesc
}

func (g leaseGauges) Collect(ch chan<- prometheus.Metric) {
	for _, id := range g.l.Held() {
		if _, ok := g.l.Lease(id); ok {
			ch <- prometheus.MustNewConstMetric(leaseHeldDesc, prometheus.GaugeValue, 1, id)
		}
	}
	g.l.mu.Lock()
	defer g.l.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(replicasLiveDesc, prometheus.GaugeValue, float64(g.l.live))
	for what, n := range g.l.dropped {
		ch <- prometheus.MustNewConstMetric(leaseDroppedDesc, prometheus.CounterValue, float64(n), what)
	}
}
