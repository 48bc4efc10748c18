package fault

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/pkg/config"
	"github.com/vworkspace/pushd/pkg/store"
	"github.com/vworkspace/pushd/pkg/webhook"
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

// A pushd killed while it handled a signed write leaves the webhook-id in
// progress, and a retry under that id is answered 409 request_in_progress
// until the mark is two minutes old — although nothing handles it any more.
// On SQLite the restarted pushd is the only process there can be, so every
// mark it finds is a dead predecessor's: the retry is acted on at once.
func TestRestartOnSQLiteForgetsDeadRequests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := dbtest.Database{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "pushd.db")}
	r := newRun(t, db, suite.Bed.Clusters[:1])
	s := jobSpec{id: "interrupted", cluster: "fault-1", app: "app-0", delay: 100 * time.Millisecond, timeout: 60}
	body := s.body(r.ns)
	r.kill9()

	// What the killed process had written when it died: the mark, not yet
	// the job.
	st, err := store.Open(ctx, db.Driver, db.DSN, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	id := r.newMessageID()
	sum := sha256.Sum256(webhook.Bound(http.MethodPost, "/api/v1/jobs", body))
	if _, err := st.BeginMessage(ctx, &store.Message{Organization: config.DefaultOrganization, ID: id, BodyHash: hex.EncodeToString(sum[:])}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	r.start()
	resp, err := r.client.Write(ctx, http.MethodPost, "/api/v1/jobs", id, body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusAccepted {
		t.Fatalf("the retry of a write a killed pushd was handling: %d %s, want 202", resp.Status, resp.Body)
	}
}
