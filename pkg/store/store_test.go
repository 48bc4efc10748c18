package store

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/vworkspace/pushd/internal/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

func open(t *testing.T, db dbtest.Database) *Store {
	t.Helper()
	s, err := Open(context.Background(), db.Driver, db.DSN, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// each runs fn once per database (dbtest.Each) on a store opened there,
// with a context that ends with the subtest: the opening of nearly every
// test here.
func each(t *testing.T, fn func(t *testing.T, ctx context.Context, s *Store)) {
	t.Helper()
	dbtest.EachContext(t, func(t *testing.T, ctx context.Context, db dbtest.Database) {
		fn(t, ctx, open(t, db))
	})
}

func TestOpenMigratesToCurrentSchema(t *testing.T) {
	dbtest.EachContext(t, func(t *testing.T, ctx context.Context, db dbtest.Database) {
		s := open(t, db)
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		want := migrations[len(migrations)-1].version
		if v, err := s.SchemaVersion(ctx); err != nil || v != want {
			t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, want)
		}
		// Opening again (a restart or an upgrade with nothing new) is a no-op.
		s2 := open(t, db)
		if v, err := s2.SchemaVersion(ctx); err != nil || v != want {
			t.Fatalf("after reopen SchemaVersion = %d, %v; want %d", v, err, want)
		}
	})
}

// TestMigrationsRunOnceUnderConcurrency starts several stores on one database
// at once, as replicas starting together would, with a migration that fails
// if it runs twice.
func TestMigrationsRunOnceUnderConcurrency(t *testing.T) {
	dbtest.EachContext(t, func(t *testing.T, ctx context.Context, db dbtest.Database) {
		type probe struct{ ID int }
		ms := append(append([]migration(nil), migrations...), migration{
			version: 1000, name: "probe",
			up: func(tx *gorm.DB) error { return tx.Migrator().CreateTable(&probe{}) }, // errors if the table exists
		})
		stores := make([]*Store, 4)
		for i := range stores {
			stores[i] = open(t, db)
		}
		var wg sync.WaitGroup
		errs := make([]error, len(stores))
		for i, s := range stores {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = s.migrate(ctx, ms) }()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("store %d: %v", i, err)
			}
		}
		if v, _ := stores[0].SchemaVersion(ctx); v != 1000 {
			t.Fatalf("SchemaVersion = %d, want 1000", v)
		}
	})
}

func TestOpenRejectsUnknownDriver(t *testing.T) {
	if _, err := Open(context.Background(), "mysql", "x", Options{}); err == nil {
		t.Fatal("want error")
	}
}

func TestMessagesRememberOutcome(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s *Store) {
		m := &Message{Organization: "acme", ID: "msg-1", BodyHash: "h1"}
		if _, err := s.BeginMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
		got, err := s.BeginMessage(ctx, &Message{Organization: "acme", ID: "msg-1", BodyHash: "h2"})
		if err != ErrMessageExists || got.BodyHash != "h1" || got.Status != 0 {
			t.Fatalf("second Begin = %+v, %v; want the in-progress original", got, err)
		}
		// The same id in another organization is another message.
		if _, err := s.BeginMessage(ctx, &Message{Organization: "other", ID: "msg-1", BodyHash: "h1"}); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishMessage(ctx, "acme", "msg-1", 201, "application/json", []byte(`{"ok":true}`)); err != nil {
			t.Fatal(err)
		}
		got, err = s.BeginMessage(ctx, &Message{Organization: "acme", ID: "msg-1", BodyHash: "h1"})
		if err != ErrMessageExists || got.Status != 201 || string(got.Response) != `{"ok":true}` {
			t.Fatalf("after Finish = %+v, %v", got, err)
		}
		if err := s.ForgetMessage(ctx, "acme", "msg-1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.BeginMessage(ctx, &Message{Organization: "acme", ID: "msg-1", BodyHash: "h1"}); err != nil {
			t.Fatalf("after Forget the id must be new again: %v", err)
		}
	})
}

func TestClusterRecordsAreScopedToOrganization(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s *Store) {
		created, err := s.PutCluster(ctx, &Cluster{ID: "prod-1", Organization: "acme", DisplayName: "one"})
		if err != nil || !created {
			t.Fatalf("PutCluster = %v, %v", created, err)
		}
		created, err = s.PutCluster(ctx, &Cluster{ID: "prod-1", Organization: "acme", DisplayName: "two"})
		if err != nil || created {
			t.Fatalf("second PutCluster = %v, %v; want an update", created, err)
		}
		if c, err := s.GetCluster(ctx, "acme", "prod-1"); err != nil || c.DisplayName != "two" || c.CreatedAt.IsZero() {
			t.Fatalf("GetCluster = %+v, %v", c, err)
		}
		if _, err := s.GetCluster(ctx, "globex", "prod-1"); err != ErrNotFound {
			t.Fatalf("other organization: %v, want ErrNotFound", err)
		}
		if err := s.DeleteCluster(ctx, "globex", "prod-1"); err != ErrNotFound {
			t.Fatalf("delete from other organization: %v", err)
		}
		if err := s.SaveClusterStatus(ctx, &ClusterStatus{ClusterID: "prod-1", State: "ready"}); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveClusterStatus(ctx, &ClusterStatus{ClusterID: "prod-1", State: "unreachable"}); err != nil {
			t.Fatal(err)
		}
		st, err := s.ClusterStatuses(ctx, []string{"prod-1"})
		if err != nil || st["prod-1"].State != "unreachable" {
			t.Fatalf("ClusterStatuses = %+v, %v", st, err)
		}
		if err := s.DeleteCluster(ctx, "acme", "prod-1"); err != nil {
			t.Fatal(err)
		}
		if list, _ := s.ListClusters(ctx, ""); len(list) != 0 {
			t.Fatalf("after delete: %+v", list)
		}
	})
}

func TestPruneUnsentEvents(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s *Store) {
		old := &Event{ID: "evt-old", Type: "t", Organization: "o", Cluster: "c", Data: "{}", CreatedAt: time.Now().Add(-8 * 24 * time.Hour)}
		recent := &Event{ID: "evt-new", Type: "t", Organization: "o", Cluster: "c", Data: "{}"}
		for _, e := range []*Event{old, recent} {
			if err := s.AddEvent(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := s.PruneUnsentEvents(ctx, time.Now().Add(-7*24*time.Hour)); err != nil || n != 1 {
			t.Fatalf("pruned %d, %v; want the old one", n, err)
		}
		if es, _ := s.Events(ctx, "c", 10); len(es) != 1 || es[0].ID != "evt-new" {
			t.Fatalf("left: %+v", es)
		}
	})
}

// TestClaimSkipsBlockedApplications queues a long backlog of one
// application behind a running job, and one job of another application: the
// other application's job is claimable at once, and the backlog in order.
func TestClaimSkipsBlockedApplications(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s *Store) {
		now := time.Now().UTC()
		add := func(id, app string) {
			t.Helper()
			if _, err := s.CreateJob(ctx, &Job{Organization: "o", ID: id, Cluster: "c", Namespace: "ns", Application: app, Action: "apply", Status: JobQueued}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 40 {
			add(fmt.Sprintf("a-%02d", i), "a")
		}
		add("b-0", "b")
		claim := func() string {
			t.Helper()
			j, err := s.ClaimJob(ctx, "c", "w", now, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if j == nil {
				return ""
			}
			return j.ID
		}
		if got := claim(); got != "a-00" {
			t.Fatalf("first claim %q, want a-00", got)
		}
		if got := claim(); got != "b-0" {
			t.Fatalf("second claim %q, want b-0: application a's backlog must not hide b", got)
		}
		if got := claim(); got != "" {
			t.Fatalf("third claim %q, want none while a-00 runs", got)
		}
		// a-00's worker dies: after the lease, a-00 itself is taken up again (attempt 2), not a-01.
		j, err := s.ClaimJob(ctx, "c", "w2", now.Add(2*time.Minute), time.Minute)
		if err != nil || j == nil || j.ID != "a-00" || j.Attempt != 2 {
			t.Fatalf("after lease expiry: %+v, %v", j, err)
		}
	})
}

// TestRecentJobs: one query gives each cluster's newest jobs, newest first,
// however busy another cluster is, and only the organization's own.
func TestRecentJobs(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s *Store) {
		add := func(org, cluster, id string) {
			t.Helper()
			if _, err := s.CreateJob(ctx, &Job{Organization: org, ID: id, Cluster: cluster, Namespace: "ns", Application: "app", Action: "apply", Status: JobQueued}); err != nil {
				t.Fatal(err)
			}
		}
		add("o", "quiet", "q-0")
		add("o", "quiet", "q-1")
		for i := range 10 {
			add("o", "busy", fmt.Sprintf("b-%d", i))
		}
		add("other", "theirs", "t-0")
		jobs, err := s.RecentJobs(ctx, "o", 3)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, j := range jobs {
			got = append(got, j.Cluster+"/"+j.ID)
		}
		want := []string{"busy/b-9", "busy/b-8", "busy/b-7", "quiet/q-1", "quiet/q-0"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("RecentJobs = %v, want %v", got, want)
		}
	})
}
