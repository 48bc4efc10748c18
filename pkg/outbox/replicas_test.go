package outbox_test

import (
	"fmt"
	"hash/fnv"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/storetest"
	"github.com/vworkspace/pushd/pkg/outbox"
)

// countingTransport counts the requests one deliverer sends.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// Two deliverers on one database — replicas, each with its own connection
// pool — while events are being written and the receiver refuses about a
// quarter of the requests: every event is accepted exactly once; an event is
// sent again only after an attempt of it failed; and an event is never sent
// before every older event of its cluster was accepted.
func TestReplicasShareTheOutbox(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		const clusters, perCluster = 6, 15
		recv := newReceiver(t, nil)
		recv.setRespond(func(b outbox.Body, attempt int) int {
			h := fnv.New32a()
			fmt.Fprintf(h, "%s/%d", b.ID, attempt)
			if attempt <= 3 && h.Sum32()%4 == 0 {
				return http.StatusServiceUnavailable
			}
			return http.StatusOK
		})
		var (
			deliverers []*outbox.Deliverer
			transports []*countingTransport
		)
		for i := range 2 {
			tr := &countingTransport{}
			transports = append(transports, tr)
			d := outbox.New(storetest.Open(t, db), recv.url, secret(t), outbox.Options{
				Client:       &http.Client{Transport: tr},
				Owner:        fmt.Sprintf("replica-%d", i),
				Concurrency:  3,
				PollInterval: 20 * time.Millisecond,
				BackoffBase:  5 * time.Millisecond,
				BackoffMax:   50 * time.Millisecond,
			})
			deliverers = append(deliverers, d)
			run(t, d)
		}

		// Writers append while the deliverers run, one per cluster, each
		// waking both deliverers after every event, as pkg/jobs would.
		writer := storetest.Open(t, db)
		order := make([][]string, clusters) // each cluster's ids, oldest first
		var wg sync.WaitGroup
		for c := range clusters {
			wg.Go(func() {
				for range perCluster {
					order[c] = append(order[c], addEvents(t, writer, fmt.Sprintf("cluster-%d", c), 1)...)
					for _, d := range deliverers {
						d.Notify()
					}
					time.Sleep(time.Millisecond)
				}
			})
		}
		wg.Wait()
		var all []string
		for _, ids := range order {
			all = append(all, ids...)
		}
		eventually(t, 60*time.Second, "every event delivered", allDelivered(t, writer, all))

		position := map[string][2]int{} // id → (cluster, index in its cluster)
		for c, ids := range order {
			for i, id := range ids {
				position[id] = [2]int{c, i}
			}
		}
		accepted := map[string]bool{}
		failed := map[string]bool{}
		retries := 0
		for _, rc := range recv.all() {
			id := rc.WebhookID
			pos := position[id]
			switch {
			case accepted[id]:
				t.Errorf("%s sent again after it was accepted", id)
			case failed[id]:
				retries++
			}
			for _, older := range order[pos[0]][:pos[1]] {
				if !accepted[older] {
					t.Errorf("%s sent before the older %s of its cluster was accepted", id, older)
				}
			}
			switch {
			case rc.Status >= 200 && rc.Status < 300:
				accepted[id] = true
			default:
				failed[id] = true
			}
		}
		if len(accepted) != len(all) {
			t.Errorf("%d events accepted, want %d", len(accepted), len(all))
		}
		t.Logf("%d events, %d retries; requests per replica: %d, %d", len(all), retries, transports[0].n.Load(), transports[1].n.Load())
		if retries == 0 {
			t.Error("the receiver refused nothing: the test proves less than it claims")
		}
		for i, tr := range transports {
			if tr.n.Load() == 0 {
				t.Errorf("replica %d sent nothing: the test did not exercise two replicas", i)
			}
		}
	})
}
