package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/apitest"
	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/pkg/api"
	"github.com/vworkspace/pushd/pkg/outbox"
	"github.com/vworkspace/pushd/pkg/store"
	"github.com/vworkspace/pushd/pkg/webhook"
)

// A callback Odoo refuses for good is parked; the organization that owns it
// lists it and re-sends it with one signed call, and then it is delivered.
// Another organization neither sees nor re-sends it.
func TestParkedCallbacksAreListedAndResent(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		odoo := newRefusingOdoo(t)
		var st *store.Store
		e := newEnv(t, db, odoo.deliverer(t, &st))
		ev := &store.Event{ID: "evt_refused_" + strings.ReplaceAll(t.Name(), "/", "_"), Type: "job.status_changed", Organization: "acme", Cluster: "acme-prod-1", Data: `{"id":"job-x"}`}
		if err := st.AddEvent(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
		var items []any
		eventually(t, "the refused event is parked", func() bool {
			r := e.Read(t, "/api/v1/callbacks/parked", apitest.AcmeToken)
			items, _ = r.JSON(t)["items"].([]any)
			return r.Status == http.StatusOK && len(items) == 1
		})
		got := items[0].(map[string]any)
		if got["id"] != ev.ID || got["cluster"] != "acme-prod-1" || !strings.Contains(got["last_error"].(string), "400") {
			t.Errorf("parked callback %v", got)
		}
		if _, ok := got["data"]; ok {
			t.Errorf("a parked callback shows its data: %v", got)
		}
		if r := e.Read(t, "/api/v1/callbacks/parked", apitest.GlobexToken); len(r.JSON(t)["items"].([]any)) != 0 {
			t.Errorf("another organization sees acme's parked callbacks: %s", r.Body)
		}
		if r := e.Write(t, http.MethodPost, "/api/v1/callbacks/"+ev.ID+"/resend", apitest.GlobexSecret, nil); r.Status != http.StatusNotFound {
			t.Errorf("globex re-sends acme's callback: %d %s", r.Status, r.Body)
		}

		odoo.status.Store(http.StatusNoContent)
		if r := e.Write(t, http.MethodPost, "/api/v1/callbacks/"+ev.ID+"/resend", apitest.AcmeSecret, nil); r.Status != http.StatusAccepted {
			t.Fatalf("resend: %d %s", r.Status, r.Body)
		}
		eventually(t, "the re-sent event is delivered", func() bool {
			es, err := st.Events(t.Context(), "acme-prod-1", 10)
			return err == nil && len(es) == 1 && es[0].DeliveredAt != nil
		})
		if r := e.Read(t, "/api/v1/callbacks/parked", apitest.AcmeToken); len(r.JSON(t)["items"].([]any)) != 0 {
			t.Errorf("still listed after delivery: %s", r.Body)
		}
		if r := e.Write(t, http.MethodPost, "/api/v1/callbacks/"+ev.ID+"/resend", apitest.AcmeSecret, nil); r.Status != http.StatusNotFound {
			t.Errorf("resend of a delivered callback: %d %s", r.Status, r.Body)
		}
	})
}

// eventually polls cond every 20ms for up to 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// refusingOdoo is a callback receiver that answers status (400 at first:
// every event is refused for good, so the outbox parks it).
type refusingOdoo struct {
	status atomic.Int32
	url    string
}

func newRefusingOdoo(t *testing.T) *refusingOdoo {
	o := &refusingOdoo{}
	o.status.Store(http.StatusBadRequest)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(int(o.status.Load())) }))
	t.Cleanup(srv.Close)
	o.url = srv.URL
	return o
}

// deliverer is an env option that runs an outbox delivering to o, parking
// after one refused attempt, and serves its parked callbacks; *st is set to
// the env's store.
func (o *refusingOdoo) deliverer(t *testing.T, st **store.Store) apitest.Option {
	secret, err := webhook.ParseSecret(apitest.AcmeSecret)
	if err != nil {
		t.Fatal(err)
	}
	return func(ctx context.Context, deps *api.Deps) {
		*st = deps.Store
		d := outbox.New(deps.Store, o.url, secret, outbox.Options{ParkAfter: 1, PollInterval: 20 * time.Millisecond})
		go d.Run(ctx)
		deps.Callbacks = d
	}
}
