package fault

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/pkg/config"
	"github.com/vworkspace/pushd/pkg/store"
)

// A pushd killed while it sent a callback leaves the event claimed for the
// delivery lease (a minute at least), and only a cluster's oldest event is
// ever sent, so the cluster's callbacks would all wait that long. On SQLite
// the restarted pushd is the only deliverer there can be: every claim it
// finds is a dead predecessor's, and it sends the event at once. The claim
// here holds for an hour; the test waits far less.
func TestRestartOnSQLiteTakesOverDeadClaims(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := dbtest.Database{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "pushd.db")}
	st, err := store.Open(ctx, db.Driver, db.DSN, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := &store.Event{ID: "evt-claimed-by-the-dead", Type: "cluster.connectivity_changed", Organization: config.DefaultOrganization, Cluster: "gone",
		Data: `{"state":"unreachable","previous_state":"ready","checked_at":"2026-01-01T00:00:00Z","message":"x"}`}
	if err := st.AddEvent(ctx, e); err != nil {
		t.Fatal(err)
	}
	claimed, err := st.ClaimEvents(ctx, store.EventClaim{Owner: "killed-process", Now: time.Now(), Lease: time.Hour, Limit: 1})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	st.Close()

	r := newRun(t, db, nil)
	for {
		for _, d := range r.recv.Deliveries() {
			if d.WebhookID == e.ID {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal("the event a killed pushd had claimed was not sent after the restart")
		case <-time.After(100 * time.Millisecond):
		}
	}
}
