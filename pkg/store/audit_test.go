package store

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The audit log keeps entries in order, per organization, and filters them
// by time, cluster and action, one page at a time.
func TestAuditEntriesFilterAndPage(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s *Store) {
		t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
		add := func(org string, min int, action AuditAction, cluster, outcome string) {
			t.Helper()
			e := &AuditEntry{At: t0.Add(time.Duration(min) * time.Minute), Organization: org, ActorKind: ActorWebhook, ActorID: "0a1b2c3d",
				Action: action, Cluster: cluster, Outcome: outcome, Status: 200}
			if err := s.AppendAudit(ctx, e); err != nil {
				t.Fatal(err)
			}
			if e.Seq == 0 {
				t.Fatal("AppendAudit did not set Seq")
			}
		}
		add("acme", 0, AuditRecordWritten, "acme-1", AuditOK)
		add("globex", 1, AuditRecordWritten, "globex-1", AuditOK)
		add("acme", 2, AuditJobSubmitted, "acme-1", "kind_not_allowed")
		add("acme", 3, AuditJobSubmitted, "acme-2", AuditOK)
		add("acme", 4, AuditRecordDeleted, "acme-2", AuditOK)

		actions := func(es []AuditEntry) string {
			var out []string
			for _, e := range es {
				out = append(out, string(e.Action)+"@"+e.Cluster)
			}
			return strings.Join(out, ",")
		}
		for _, tc := range []struct {
			name string
			f    AuditFilter
			want string
		}{
			{"all of acme, oldest first", AuditFilter{}, "record.written@acme-1,job.submitted@acme-1,job.submitted@acme-2,record.deleted@acme-2"},
			{"one cluster", AuditFilter{Cluster: "acme-2"}, "job.submitted@acme-2,record.deleted@acme-2"},
			{"one action", AuditFilter{Action: AuditJobSubmitted}, "job.submitted@acme-1,job.submitted@acme-2"},
			{"since is inclusive, until exclusive", AuditFilter{Since: t0.Add(2 * time.Minute), Until: t0.Add(4 * time.Minute)}, "job.submitted@acme-1,job.submitted@acme-2"},
		} {
			got, err := s.AuditEntries(ctx, "acme", tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if a := actions(got); a != tc.want {
				t.Errorf("%s: got %s, want %s", tc.name, a, tc.want)
			}
		}
		var pages []string
		for after := int64(0); ; {
			page, err := s.AuditEntries(ctx, "acme", AuditFilter{After: after, Limit: 3})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			pages = append(pages, actions(page))
			after = page[len(page)-1].Seq
		}
		if len(pages) != 2 || !strings.HasPrefix(pages[1], "record.deleted") {
			t.Errorf("pages of 3: %q", pages)
		}
		got, err := s.AuditEntries(ctx, "globex", AuditFilter{})
		if err != nil || actions(got) != "record.written@globex-1" {
			t.Errorf("globex sees %s, %v", actions(got), err)
		}
		if !got[0].At.Equal(t0.Add(time.Minute)) || got[0].Outcome != AuditOK || got[0].ActorID != "0a1b2c3d" {
			t.Errorf("entry read back: %+v", got[0])
		}
	})
}

// A login and its audit entry are one transaction: a session that cannot
// be saved leaves no entry claiming it was.
func TestUISessionAuditIsOneTransaction(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s *Store) {
		sess := &UISession{IDHash: strings.Repeat("ab", 32), Organization: "acme", CSRF: "x", ExpiresAt: time.Now().Add(time.Hour)}
		login := func() *AuditEntry {
			return &AuditEntry{Organization: "acme", ActorKind: ActorUI, ActorID: "abababab", Action: AuditUILogin, Outcome: AuditOK}
		}
		if err := s.SaveUISession(ctx, sess, login()); err != nil {
			t.Fatal(err)
		}
		dup := *sess
		if err := s.SaveUISession(ctx, &dup, login()); err == nil {
			t.Fatal("a second session with the same id was saved")
		}
		if err := s.DeleteUISession(ctx, sess.IDHash, &AuditEntry{Organization: "acme", ActorKind: ActorUI, ActorID: "abababab", Action: AuditUILogout, Outcome: AuditOK}); err != nil {
			t.Fatal(err)
		}
		got, err := s.AuditEntries(ctx, "acme", AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Action != AuditUILogin || got[1].Action != AuditUILogout {
			t.Fatalf("entries %+v, want one login (the failed save left none) and one logout", got)
		}
	})
}

// The log is append-only: the store's only verbs on it add and read.
func TestAuditLogHasNoUpdateOrDelete(t *testing.T) {
	var verbs []string
	st := reflect.TypeFor[*Store]()
	for i := range st.NumMethod() {
		if name := st.Method(i).Name; strings.Contains(name, "Audit") {
			verbs = append(verbs, name)
		}
	}
	if want := []string{"AppendAudit", "AuditEntries"}; !slices.Equal(verbs, want) {
		t.Errorf("the store's audit verbs are %v, want only %v", verbs, want)
	}
}

// An entry whose fields are longer than their columns (a refused request
// naming a 300-character cluster id) is kept, each long field cut to its
// column with a marker; bytes PostgreSQL cannot store in text (NUL, invalid
// UTF-8) are replaced rather than losing the entry.
func TestAuditEntryOutlivesItsColumnSizes(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s *Store) {
		long := strings.Repeat("c", 300)
		e := &AuditEntry{Organization: "acme", ActorKind: ActorWebhook, ActorID: strings.Repeat("a", 300), Action: AuditRecordWritten,
			Cluster: long, ClusterUID: strings.Repeat("u", 300), Subject: "job-\x00-\xff" + long, Outcome: strings.Repeat("o", 300), Status: 400}
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatalf("an entry with a 300-character cluster id is lost: %v", err)
		}
		got, err := s.AuditEntries(ctx, "acme", AuditFilter{})
		if err != nil || len(got) != 1 {
			t.Fatalf("entries: %v, %v", got, err)
		}
		for name, f := range map[string]struct {
			v    string
			size int
		}{"cluster": {got[0].Cluster, 253}, "cluster_uid": {got[0].ClusterUID, 64}, "actor_id": {got[0].ActorID, 128},
			"subject": {got[0].Subject, 255}, "outcome": {got[0].Outcome, 64}} {
			if n := utf8.RuneCountInString(f.v); n != f.size || !strings.HasSuffix(f.v, TruncatedMarker) {
				t.Errorf("%s: %d characters ending %q, want %d ending with the marker %q", name, n, f.v[max(len(f.v)-8, 0):], f.size, TruncatedMarker)
			}
		}
		if !strings.HasPrefix(got[0].Cluster, "ccc") {
			t.Errorf("cluster %q: want its beginning kept", got[0].Cluster)
		}
		if sub := got[0].Subject; !strings.HasPrefix(sub, "job-\uFFFD-\uFFFDccc") {
			t.Errorf("subject begins %q, want NUL and the invalid byte replaced", sub[:12])
		}
		short := &AuditEntry{Organization: "acme", ActorKind: ActorWebhook, Action: AuditRecordWritten, Cluster: strings.Repeat("c", 253), Outcome: AuditOK}
		if err := s.AppendAudit(ctx, short); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.AuditEntries(ctx, "acme", AuditFilter{After: e.Seq}); len(got) != 1 || got[0].Cluster != short.Cluster {
			t.Errorf("a cluster id of exactly the column's size is changed: %v", got)
		}
	})
}
