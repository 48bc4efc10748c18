package fleet_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/fleet"
	"github.com/vworkspace/pushd/pkg/health"
)

// world is one cluster, c-1 of acme, behind fakes whose probe is ready
// exactly when the stored credential's token is "good".
type world struct {
	calls  *fleet.Calls
	reg    *fleet.FakeRegistry
	health *fleet.FakeHealth
	jobs   *fleet.FakeJobs
	obs    *fleet.FakeObservations
	svc    *fleet.Service
}

func newWorld() *world {
	w := &world{calls: &fleet.Calls{}}
	w.reg = &fleet.FakeRegistry{Calls: w.calls, Records: map[string]*clusters.Record{
		"c-1": {ID: "c-1", Organization: "acme", UID: "gen-1"},
	}}
	w.health = &fleet.FakeHealth{Calls: w.calls, Probe: func(rec *clusters.Record) health.Status {
		if c, err := w.reg.Credential(rec.ID); err == nil && c.Token == "good" {
			return health.Status{Connectivity: health.Connectivity{State: health.StateReady}}
		}
		return health.Status{Connectivity: health.Connectivity{State: health.StateUnauthorized}}
	}}
	w.jobs = &fleet.FakeJobs{Calls: w.calls}
	w.obs = &fleet.FakeObservations{Calls: w.calls}
	w.svc = fleet.New(w.reg, w.health, w.jobs, fleet.Options{Observations: w.obs})
	return w
}

func (w *world) token() string {
	c, err := w.reg.Credential("c-1")
	if err != nil {
		return ""
	}
	return c.Token
}

func TestReplaceCredential(t *testing.T) {
	ctx := context.Background()

	t.Run("a working credential is replaced by one that works", func(t *testing.T) {
		w := newWorld()
		if _, _, err := w.svc.ReplaceCredential(ctx, "acme", "c-1", []byte("good")); err != nil {
			t.Fatal(err)
		}
		rec, st, err := w.svc.ReplaceCredential(ctx, "acme", "c-1", []byte("good"))
		if err != nil || rec.UID != "gen-1" || st.Connectivity.State != health.StateReady {
			t.Fatalf("got %v %v %v, want the record and a ready probe", rec, st.Connectivity.State, err)
		}
	})

	t.Run("a failing credential does not replace a working one", func(t *testing.T) {
		w := newWorld()
		if _, _, err := w.svc.ReplaceCredential(ctx, "acme", "c-1", []byte("good")); err != nil {
			t.Fatal(err)
		}
		before := len(w.calls.List())
		rec, _, err := w.svc.ReplaceCredential(ctx, "acme", "c-1", []byte("bad"))
		calls := w.calls.List()[before:]
		var rej *fleet.RejectedError
		if !errors.As(err, &rej) || rej.Probe.Connectivity.State != health.StateUnauthorized {
			t.Fatalf("err %v, want a *RejectedError of an unauthorized probe", err)
		}
		if rec == nil || rec.ID != "c-1" {
			t.Errorf("record %v, want c-1's", rec)
		}
		if want := "the new kubeconfig failed its probe (unauthorized); the working one is kept"; err.Error() != want {
			t.Errorf("message %q, want %q", err, want)
		}
		if w.token() != "good" {
			t.Errorf("stored token %q, want the working one back", w.token())
		}
		if st, _ := w.health.Observed(ctx, "c-1"); st.Connectivity.State != health.StateReady {
			t.Errorf("observed %s after the rollback, want it probed ready again", st.Connectivity.State)
		}
		// Each probe (which reads the credential here) has its breaker reset
		// first; the working credential is read before the new one is stored.
		want := []string{"Get c-1", "Credential c-1", "SetKubeconfig c-1", "Reset c-1", "Check c-1", "Credential c-1",
			"RestoreCredential c-1", "Reset c-1", "Check c-1", "Credential c-1"}
		if diff := cmp.Diff(want, calls); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
	})

	t.Run("with nothing working before, the new credential stays whatever its probe", func(t *testing.T) {
		w := newWorld()
		_, st, err := w.svc.ReplaceCredential(ctx, "acme", "c-1", []byte("bad"))
		if err != nil || st.Connectivity.State != health.StateUnauthorized || w.token() != "bad" {
			t.Fatalf("got %s %v, token %q: want the unauthorized probe and the new credential kept", st.Connectivity.State, err, w.token())
		}
	})

	t.Run("failures", func(t *testing.T) {
		boom := errors.New("boom")
		tests := []struct {
			name  string
			fail  func(w *world)
			want  error
			token string // stored afterwards
		}{
			{"unknown cluster", func(w *world) { delete(w.reg.Records, "c-1") }, clusters.ErrNotFound, "good"},
			{"refused kubeconfig", func(w *world) { w.reg.Err = map[string]error{"SetKubeconfig": boom} }, boom, "good"},
			{"probe not stored", func(w *world) { w.health.Err = map[string]error{"Check": boom} }, boom, "bad"},
			{"rollback not stored", func(w *world) { w.reg.Err = map[string]error{"RestoreCredential": boom} }, boom, "bad"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				w := newWorld()
				if _, _, err := w.svc.ReplaceCredential(ctx, "acme", "c-1", []byte("good")); err != nil {
					t.Fatal(err)
				}
				tt.fail(w)
				if _, _, err := w.svc.ReplaceCredential(ctx, "acme", "c-1", []byte("bad")); !errors.Is(err, tt.want) {
					t.Fatalf("err %v, want %v", err, tt.want)
				}
				if w.token() != tt.token {
					t.Errorf("stored token %q, want %q", w.token(), tt.token)
				}
			})
		}
	})

	t.Run("another organization's cluster is not found", func(t *testing.T) {
		w := newWorld()
		if _, _, err := w.svc.ReplaceCredential(ctx, "globex", "c-1", []byte("good")); !errors.Is(err, clusters.ErrNotFound) {
			t.Fatalf("err %v, want not found", err)
		}
		if w.token() != "" {
			t.Fatal("a credential was stored for another organization's cluster")
		}
	})
}

func TestDelete(t *testing.T) {
	ctx := context.Background()

	t.Run("jobs are cancelled before the record goes, then everything forgets it", func(t *testing.T) {
		w := newWorld()
		rec, err := w.svc.Delete(ctx, "acme", "c-1")
		if err != nil || rec.UID != "gen-1" {
			t.Fatalf("got %v %v, want the deleted generation", rec, err)
		}
		want := []string{"Get c-1", "CancelCluster c-1", "Delete c-1", "Health.Forget c-1", "Observations.Forget c-1"}
		if diff := cmp.Diff(want, w.calls.List()); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
		if _, err := w.reg.Get(ctx, "acme", "c-1"); !errors.Is(err, clusters.ErrNotFound) {
			t.Errorf("the record is still there: %v", err)
		}
	})

	t.Run("a cancel that fails keeps the record and names its generation", func(t *testing.T) {
		w := newWorld()
		w.jobs.Err = errors.New("store down")
		rec, err := w.svc.Delete(ctx, "acme", "c-1")
		if err == nil || rec == nil || rec.UID != "gen-1" {
			t.Fatalf("got %v %v, want the error with the record", rec, err)
		}
		if got := strings.Join(w.calls.List(), ", "); got != "Get c-1, CancelCluster c-1" {
			t.Errorf("calls %s: nothing may be deleted or forgotten", got)
		}
	})

	t.Run("without a watcher", func(t *testing.T) {
		w := newWorld()
		svc := fleet.New(w.reg, w.health, w.jobs, fleet.Options{})
		if _, err := svc.Delete(ctx, "acme", "c-1"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("unknown", func(t *testing.T) {
		w := newWorld()
		if rec, err := w.svc.Delete(ctx, "globex", "c-1"); rec != nil || !errors.Is(err, clusters.ErrNotFound) {
			t.Fatalf("got %v %v, want not found", rec, err)
		}
	})
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	w := newWorld()
	w.reg.Credentials = map[string]*clusters.Credential{"c-1": {Token: "good"}}
	rec, st, err := w.svc.Check(ctx, "", "c-1")
	if err != nil || rec.ID != "c-1" || st.Connectivity.State != health.StateReady {
		t.Fatalf("got %v %v %v", rec, st.Connectivity.State, err)
	}
	if got, _ := w.health.Observed(ctx, "c-1"); got.Connectivity.State != health.StateReady {
		t.Errorf("the probe was not stored: %s", got.Connectivity.State)
	}
	if _, _, err := w.svc.Check(ctx, "", "nope"); !errors.Is(err, clusters.ErrNotFound) {
		t.Errorf("unknown cluster: %v", err)
	}
}
