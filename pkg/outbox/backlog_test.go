package outbox_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vworkspace/pushd/internal/storetest"
	"github.com/vworkspace/pushd/pkg/outbox"
	"github.com/vworkspace/pushd/pkg/store"
)

// TestBacklogGauges scrapes the outbox's backlog and the age of its oldest
// waiting event, read from the store at each scrape.
func TestBacklogGauges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, ctx context.Context, st *store.Store) {
		now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
		reg := prometheus.NewRegistry()
		outbox.RegisterBacklogGauges(reg, st, func() time.Time { return now })
		want := func(n, age string) string {
			return `# HELP pushd_callbacks_backlog Callback events waiting for delivery (neither delivered nor parked).
# TYPE pushd_callbacks_backlog gauge
pushd_callbacks_backlog ` + n + `
# HELP pushd_callbacks_oldest_age_seconds Age of the oldest callback event waiting for delivery; 0 when none waits.
# TYPE pushd_callbacks_oldest_age_seconds gauge
pushd_callbacks_oldest_age_seconds ` + age + `
`
		}
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want("0", "0"))); err != nil {
			t.Fatal(err)
		}
		for i, id := range []string{"e1", "e2"} {
			e := &store.Event{ID: id, Type: "job.status_changed", Organization: "acme", Cluster: "c1", Data: "{}", CreatedAt: now.Add(time.Duration(i-10) * time.Minute)}
			if err := st.AddEvent(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want("2", "600"))); err != nil {
			t.Fatal(err)
		}
	})
}
