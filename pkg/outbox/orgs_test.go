package outbox_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vworkspace/pushd/internal/storetest"
	"github.com/vworkspace/pushd/pkg/outbox"
	"github.com/vworkspace/pushd/pkg/store"
	"github.com/vworkspace/pushd/pkg/webhook"
)

// Secrets of the two organizations' receivers: each receiver verifies with
// its own only, so an event signed for the other is refused (and fails the
// test).
const (
	acmeSecret   = "whsec_YWNtZS1jYWxsYmFjay1zZWNyZXQtMDEyMzQ1Njc4OQ=="
	globexSecret = "whsec_Z2xvYmV4LWNhbGxiYWNrLXNlY3JldC0wMTIzNDU2Nzg="
)

func parseSecret(t *testing.T, s string) webhook.Secret {
	t.Helper()
	k, err := webhook.ParseSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// addOrgEvents writes n events of org's cluster, returning their ids in order.
func addOrgEvents(t *testing.T, st *store.Store, org, cluster string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		e := &store.Event{
			ID:           fmt.Sprintf("evt_%s_%d_%d", cluster, i, time.Now().UnixNano()),
			Type:         "job.status_changed",
			Organization: org,
			Cluster:      cluster,
			Data:         fmt.Sprintf(`{"n":%d}`, i),
		}
		if err := st.AddEvent(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	return ids
}

// Two organizations, two receivers, each with its own secret: each
// receiver gets exactly its organization's events, in order per cluster,
// and none of the other's. An organization with no receiver has its events
// kept undelivered (retried, its reason recorded), sent to no one.
func TestEachOrganizationItsOwnReceiver(t *testing.T) {
	storetest.Each(t, func(t *testing.T, ctx context.Context, st *store.Store) {
		acme := newReceiverWith(t, nil, acmeSecret)
		globex := newReceiverWith(t, nil, globexSecret)
		var acmeIDs, globexIDs, orphanIDs []string
		for range 3 { // interleaved, so one queue would mix them
			acmeIDs = append(acmeIDs, addOrgEvents(t, st, "acme", "acme-1", 2)...)
			globexIDs = append(globexIDs, addOrgEvents(t, st, "globex", "globex-1", 2)...)
			orphanIDs = append(orphanIDs, addOrgEvents(t, st, "initech", "initech-1", 1)...)
		}
		d := outbox.ForOrganizations(st, map[string]outbox.Receiver{
			"acme":   {URL: acme.url, Secret: parseSecret(t, acmeSecret)},
			"globex": {URL: globex.url, Secret: parseSecret(t, globexSecret)},
		}, outbox.Options{PollInterval: 10 * time.Millisecond})
		run(t, d)

		eventually(t, 10*time.Second, "both organizations' events delivered", allDelivered(t, st, append(append([]string{}, acmeIDs...), globexIDs...)))
		eventually(t, 10*time.Second, "initech's head event tried", func() bool { return events(t, st)[orphanIDs[0]].Attempts >= 1 })
		for name, tc := range map[string]struct {
			r    *receiver
			org  string
			want []string
		}{"acme": {acme, "acme", acmeIDs}, "globex": {globex, "globex", globexIDs}} {
			for _, rc := range tc.r.all() {
				if rc.Body.Organization != tc.org {
					t.Errorf("%s's receiver got %s of organization %q", name, rc.WebhookID, rc.Body.Organization)
				}
			}
			if diff := cmp.Diff(tc.want, tc.r.delivered()); diff != "" {
				t.Errorf("%s's receiver (-want +got):\n%s", name, diff)
			}
		}
		es := events(t, st)
		for _, id := range orphanIDs {
			if e := es[id]; e.DeliveredAt != nil {
				t.Errorf("initech's %s delivered at %v; want kept waiting", id, e.DeliveredAt)
			}
		}
		if p, err := d.Parked(ctx, "initech", 0, 10); err != nil || len(p) != 0 {
			t.Errorf("initech's parked events %v (%v); want none yet: its attempt budget lasts", p, err)
		}
		if e := es[orphanIDs[0]]; !strings.Contains(e.LastError, "no callback receiver") || !strings.Contains(e.LastError, "initech") {
			t.Errorf("initech's head event last error %q; want it to name the missing receiver", e.LastError)
		}
	})
}

// Parking and re-sending stay within an organization: globex's receiver
// refusing its event for good parks it in globex's list only, acme's
// events go on, and a re-send goes to globex's receiver again.
func TestParkAndResendPerOrganization(t *testing.T) {
	storetest.Each(t, func(t *testing.T, ctx context.Context, st *store.Store) {
		acme := newReceiverWith(t, nil, acmeSecret)
		globex := newReceiverWith(t, nil, globexSecret)
		globex.setRespond(func(_ outbox.Body, attempt int) int {
			if attempt == 1 {
				return http.StatusUnprocessableEntity
			}
			return http.StatusOK
		})
		g := addOrgEvents(t, st, "globex", "shared-name", 1)
		a := addOrgEvents(t, st, "acme", "acme-1", 2)
		d := outbox.ForOrganizations(st, map[string]outbox.Receiver{
			"acme":   {URL: acme.url, Secret: parseSecret(t, acmeSecret)},
			"globex": {URL: globex.url, Secret: parseSecret(t, globexSecret)},
		}, outbox.Options{ParkAfter: 1, PollInterval: 10 * time.Millisecond})
		run(t, d)

		eventually(t, 10*time.Second, "acme delivered", allDelivered(t, st, a))
		eventually(t, 10*time.Second, "globex's event parked", func() bool {
			p, err := d.Parked(ctx, "globex", 0, 10)
			return err == nil && len(p) == 1
		})
		for org, want := range map[string]int{"acme": 0, "globex": 1} {
			p, err := d.Parked(ctx, org, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(p) != want {
				t.Errorf("%s's parked events: %d, want %d", org, len(p), want)
			}
		}
		if _, err := d.Resend(ctx, "acme", g[0]); err == nil {
			t.Error("acme re-sent globex's parked event")
		}
		if _, err := d.Resend(ctx, "globex", g[0]); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "globex's event re-sent", allDelivered(t, st, g))
		if diff := cmp.Diff(a, acme.delivered()); diff != "" {
			t.Errorf("acme's receiver (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(g, globex.delivered()); diff != "" {
			t.Errorf("globex's receiver (-want +got):\n%s", diff)
		}
	})
}
