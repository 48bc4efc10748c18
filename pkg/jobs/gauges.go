package jobs

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vworkspace/pushd/pkg/store"
)

// The queue gauges, read from the database at each scrape (one grouped
// query), so every replica reports the same numbers: jobs queued per
// cluster, and those of them waiting for an unreachable cluster. A cluster
// with nothing queued has no series.
var (
	queuedDesc = prometheus.NewDesc("pushd_jobs_queued",
		"Jobs queued (accepted, not yet running) per cluster.", []string{"cluster"}, nil)
	waitingDesc = prometheus.NewDesc("pushd_jobs_waiting",
		"Queued jobs waiting for their cluster to be reachable again (wait_reason set), per cluster.", []string{"cluster"}, nil)
)

// RegisterQueueGauges registers pushd_jobs_queued and pushd_jobs_waiting.
func RegisterQueueGauges(reg prometheus.Registerer, st *store.Store) {
	reg.MustRegister(queueGauges{st})
}

type queueGauges struct{ st *store.Store }

func (g queueGauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- queuedDesc
	ch <- waitingDesc
}

func (g queueGauges) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // a scrape has no context of its own
	defer cancel()
	depths, err := g.st.QueueDepths(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(queuedDesc, err)
		return
	}
	for _, d := range depths {
		ch <- prometheus.MustNewConstMetric(queuedDesc, prometheus.GaugeValue, float64(d.Queued), d.Cluster)
		ch <- prometheus.MustNewConstMetric(waitingDesc, prometheus.GaugeValue, float64(d.Waiting), d.Cluster)
	}
}
