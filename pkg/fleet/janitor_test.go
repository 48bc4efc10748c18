package fleet_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vworkspace/pushd/internal/logbuf"
	"github.com/vworkspace/pushd/pkg/fleet"
	"github.com/vworkspace/pushd/pkg/store"
)

// TestJanitorClean: one pass prunes webhook-ids older than 48 hours and
// deleted records' manifests older than their retention, and events older
// than a week only when callbacks are off; a failure is logged and the
// rest still runs.
func TestJanitorClean(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) string { return now.Add(-d).Format(time.RFC3339) }
	tests := []struct {
		name string
		opts fleet.JanitorOptions
		err  map[string]error
		want []string
		log  string // a substring of the log
	}{
		{name: "callbacks on", want: []string{
			"PruneMessages " + at(48*time.Hour), "ForgetManifests " + at(store.DeletedManifestRetention),
		}},
		{name: "callbacks off", opts: fleet.JanitorOptions{CallbacksOff: true}, want: []string{
			"PruneMessages " + at(48*time.Hour), "ForgetManifests " + at(store.DeletedManifestRetention),
			"PruneUnsentEvents " + at(7*24*time.Hour),
		}},
		{name: "knobs", opts: fleet.JanitorOptions{CallbacksOff: true, MessageRetention: time.Hour, UnsentEventRetention: 2 * time.Hour}, want: []string{
			"PruneMessages " + at(time.Hour), "ForgetManifests " + at(store.DeletedManifestRetention),
			"PruneUnsentEvents " + at(2*time.Hour),
		}},
		{name: "a failure", opts: fleet.JanitorOptions{CallbacksOff: true}, err: map[string]error{"PruneMessages": errors.New("locked")}, want: []string{
			"PruneMessages " + at(48*time.Hour), "ForgetManifests " + at(store.DeletedManifestRetention),
			"PruneUnsentEvents " + at(7*24*time.Hour),
		}, log: `msg="prune webhook ids" err=locked`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := &fleet.Calls{}
			var logs logbuf.Buffer
			tt.opts.Now = func() time.Time { return now }
			tt.opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			fleet.NewJanitor(&fleet.FakeStore{Calls: calls, Err: tt.err}, tt.opts).Clean(context.Background())
			if diff := cmp.Diff(tt.want, calls.List()); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if !strings.Contains(logs.String(), tt.log) {
				t.Errorf("log has no %q:\n%s", tt.log, logs.String())
			}
		})
	}
}

// TestLoopsRunAtOnceAndStop: each loop runs its pass as it starts, again
// every Interval, and Run returns when its context ends.
func TestLoopsRunAtOnceAndStop(t *testing.T) {
	loops := map[string]func(st *fleet.FakeStore) func(context.Context){
		"janitor": func(st *fleet.FakeStore) func(context.Context) {
			return fleet.NewJanitor(st, fleet.JanitorOptions{Interval: 10 * time.Millisecond}).Run
		},
		"retention": func(st *fleet.FakeStore) func(context.Context) {
			return fleet.NewRetention(st, time.Hour, fleet.RetentionOptions{Interval: 10 * time.Millisecond}).Run
		},
	}
	for name, loop := range loops {
		t.Run(name, func(t *testing.T) {
			calls := &fleet.Calls{}
			run := loop(&fleet.FakeStore{Calls: calls})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { run(ctx); close(done) }()
			deadline := time.Now().Add(5 * time.Second)
			for len(calls.List()) < 4 { // two passes of two verbs at least
				if time.Now().After(deadline) {
					t.Fatalf("calls after 5s: %v", calls.List())
				}
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return after its context ended")
			}
		})
	}
}
