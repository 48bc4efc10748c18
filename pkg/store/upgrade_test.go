package store

import (
	"context"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/vworkspace/pushd/internal/dbtest"
)

// previousRelease is the schema version of the release before this one:
// what a database being upgraded holds.
const previousRelease = 4

var seededAt = time.Date(2026, 11, 20, 10, 30, 15, 123456000, time.UTC)

// seedRows writes a cluster record, a finished and a queued job, an
// undelivered event and a remembered webhook message with plain SQL naming
// only the columns that existed at previousRelease, as that release wrote
// them.
func seedRows(t *testing.T, db *gorm.DB) {
	t.Helper()
	at := seededAt
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO clusters (id, organization, display_name, labels, connectivity, allowed_namespaces, allowed_applications, allowed_operations, drift_schedule, drift_mode, public_key, created_at, updated_at)
		  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			[]any{"prod-1", "acme", "Production", `{"tier":"gold"}`, "push", `["shop"]`, `["nextcloud"]`, `[]`, "@every 1h", "report", "", at, at}},
		{`INSERT INTO jobs (organization, id, cluster, namespace, application, request_id, engine, type, action, trigger, manifests, content_hash, timeout_seconds, status, error_code, error_message, objects, cancel_requested, attempt, lease_owner, created_at, started_at, finished_at, updated_at)
		  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			[]any{"acme", "job-done", "prod-1", "shop", "nextcloud", "req-1", "helm", "deploy", "apply", "odoo", `[{"kind":"ConfigMap"}]`, "abc", 300, "succeeded", "", "", `[]`, false, 1, "", at, at, at.Add(time.Second), at}},
		{`INSERT INTO jobs (organization, id, cluster, namespace, application, request_id, engine, type, action, trigger, manifests, content_hash, timeout_seconds, status, error_code, error_message, objects, cancel_requested, attempt, lease_owner, created_at, updated_at)
		  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			[]any{"acme", "job-queued", "prod-1", "shop", "nextcloud", "req-2", "helm", "deploy", "apply", "odoo", `[]`, "def", 300, "queued", "", "", `[]`, false, 0, "", at.Add(time.Minute), at.Add(time.Minute)}},
		{`INSERT INTO events (id, type, organization, cluster, data, created_at, attempts, next_attempt_at, last_error)
		  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			[]any{"evt_1", "job.succeeded", "acme", "prod-1", `{"job_id":"job-done"}`, at, 0, at, ""}},
		{`INSERT INTO messages (organization, id, body_hash, status, content_type, response, created_at)
		  VALUES (?, ?, ?, ?, ?, ?, ?)`,
			[]any{"acme", "msg_1", "hash", 202, "application/json", []byte(`{"id":"job-done"}`), at}},
	} {
		if err := db.Exec(q.sql, q.args...).Error; err != nil {
			t.Fatalf("seed: %v\n%s", err, q.sql)
		}
	}
}

// checkRows reads seedRows' rows back through today's store.
func checkRows(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	c, err := s.GetCluster(ctx, "acme", "prod-1")
	if err != nil {
		t.Fatalf("cluster: %v", err)
	}
	if c.DisplayName != "Production" || c.AllowedNamespaces != `["shop"]` || c.RequirePodSecurity || !c.CreatedAt.Equal(seededAt) {
		t.Errorf("cluster: %+v", c)
	}
	done, err := s.GetJob(ctx, "acme", "job-done")
	if err != nil {
		t.Fatalf("job-done: %v", err)
	}
	if done.Status != JobSucceeded || !done.Terminal() || done.FinishedAt == nil || !done.FinishedAt.Equal(seededAt.Add(time.Second)) {
		t.Errorf("job-done: %+v", done)
	}
	// The queued job is still work to do, and is claimed like any other.
	j, err := s.ClaimJob(ctx, "prod-1", "upgraded", time.Now().UTC(), time.Minute)
	if err != nil || j == nil || j.ID != "job-queued" || j.Attempt != 1 {
		t.Fatalf("claim after upgrade: %+v, %v", j, err)
	}
	es, err := s.Events(ctx, "prod-1", 10)
	if err != nil || len(es) != 1 || es[0].ID != "evt_1" || es[0].DeliveredAt != nil {
		t.Errorf("events: %+v, %v", es, err)
	}
	// The message is remembered: a retry of it is answered from the store.
	m, err := s.BeginMessage(ctx, &Message{Organization: "acme", ID: "msg_1", BodyHash: "hash"})
	if err != ErrMessageExists || m.Status != 202 || string(m.Response) != `{"id":"job-done"}` {
		t.Errorf("message: %+v, %v", m, err)
	}
	// Rows written after the upgrade order after the old ones by time.
	newer, err := s.PruneUnsentEvents(ctx, seededAt.Add(-time.Second))
	if err != nil || newer != 0 {
		t.Errorf("PruneUnsentEvents before the seed: %d, %v", newer, err)
	}
}

// TestUpgradeFromPreviousRelease builds a database at the previous release's
// schema, fills it as that release would, then opens it with today's store:
// the migrations run forward, once, and every row reads back intact.
func TestUpgradeFromPreviousRelease(t *testing.T) {
	dbtest.EachContext(t, func(t *testing.T, ctx context.Context, db dbtest.Database) {
		old, err := connect(db.Driver, db.DSN, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := old.migrate(ctx, migrations[:previousRelease]); err != nil {
			t.Fatal(err)
		}
		if v, _ := old.SchemaVersion(ctx); v != previousRelease {
			t.Fatalf("old schema at %d, want %d", v, previousRelease)
		}
		seedRows(t, old.db)
		old.Close()

		s := open(t, db)
		if v, err := s.SchemaVersion(ctx); err != nil || v != migrations[len(migrations)-1].version {
			t.Fatalf("SchemaVersion after upgrade = %d, %v", v, err)
		}
		checkRows(t, s)
	})
}
