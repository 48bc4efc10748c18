package api_test

import (
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/pkg/store"
)

// A callback Odoo refused is parked; the fleet counts it, the callbacks
// page lists it, and its Re-send button (with the session's token) sends it
// again, logged; Odoo now takes it and it leaves the list.
func TestUIParkedCallbackResend(t *testing.T) {
	odoo := newRefusingOdoo(t)
	var st *store.Store
	e := newEnv(t, dbtest.Database{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "pushd.db")}, odoo.deliverer(t, &st))
	ev := &store.Event{ID: "evt_ui_refused", Type: "job.status_changed", Organization: "acme", Cluster: "acme-prod-1", Data: `{"id":"job-x"}`}
	if err := st.AddEvent(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	acme := newUIClient(t, e)
	acme.login(t, acmeToken)
	eventually(t, "the refused event is parked and listed", func() bool {
		return strings.Contains(string(acme.get(t, "/ui/callbacks").body), ev.ID)
	})
	mustContain(t, "fleet", acme.get(t, "/ui/"), `<strong>1</strong> parked callback<`)
	mustContain(t, "callbacks page", acme.get(t, "/ui/callbacks"), `action="/ui/callbacks/`+ev.ID+`/resend"`, "400")

	if r := acme.post(t, "/ui/callbacks/"+ev.ID+"/resend", nil); r.status != http.StatusForbidden {
		t.Fatalf("re-send without the token: %d", r.status)
	}
	odoo.status.Store(http.StatusNoContent)
	r := acme.post(t, "/ui/callbacks/"+ev.ID+"/resend", url.Values{"csrf": {acme.csrf(t)}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/ui/callbacks?done=resend" {
		t.Fatalf("re-send: %d %v %s", r.status, r.header, r.body)
	}
	eventually(t, "the re-sent callback is delivered and leaves the list", func() bool {
		return !strings.Contains(string(acme.get(t, "/ui/callbacks").body), ev.ID)
	})
	if !strings.Contains(e.logs.String(), "action=resend-callback") {
		t.Error("the re-send is not logged")
	}
	globex := newUIClient(t, e)
	globex.login(t, globexToken)
	if r := globex.post(t, "/ui/callbacks/"+ev.ID+"/resend", url.Values{"csrf": {globex.csrf(t)}}); r.status != http.StatusNotFound {
		t.Errorf("another organization re-sends acme's callback: %d", r.status)
	}
}
