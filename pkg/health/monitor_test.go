package health_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/health"
)

// waitState polls the stored observation of cluster until it is state.
func waitState(t *testing.T, mon *health.Monitor, cluster string, state health.State, within time.Duration) health.Status {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st, err := mon.Observed(context.Background(), cluster)
		if err != nil {
			t.Fatal(err)
		}
		if st.Connectivity.State == state {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: state %q (%s) after %s, want %q", cluster, st.Connectivity.State, st.Connectivity.Message, within, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestOutageIsolation stops one API server: that cluster turns unreachable
// within seconds while the others stay ready and keep being probed on time;
// bringing it back turns it ready again through the breaker's half-open probe.
func TestOutageIsolation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		f := fleettest.AdminFleet(t, db, bed.Clusters()...)
		mon := health.NewMonitor(f.Registry, f.Store, health.MonitorOptions{
			Interval: 500 * time.Millisecond, ProbeTimeout: 2 * time.Second,
			Breaker: health.BreakerOptions{Threshold: 2, BaseBackoff: time.Second, MaxBackoff: 2 * time.Second},
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { mon.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		for _, c := range bed.Clusters() {
			waitState(t, mon, c.Name, health.StateReady, 30*time.Second)
		}

		victim := bed.Clusters()[2]
		fleettest.Outage(t, victim)
		stopped := time.Now()
		down := waitState(t, mon, victim.Name, health.StateUnreachable, 10*time.Second)
		t.Logf("%s unreachable %s after its API server stopped: %s", victim.Name, time.Since(stopped).Round(time.Millisecond), down.Connectivity.Message)

		// The others keep fresh, ready observations while the victim is down,
		// each probe finishing well inside the probe timeout.
		before := map[string]*time.Time{}
		for _, c := range bed.Clusters()[:2] {
			st, _ := mon.Observed(ctx, c.Name)
			before[c.Name] = st.Connectivity.CheckedAt
		}
		time.Sleep(2 * time.Second)
		for _, c := range bed.Clusters()[:2] {
			st, _ := mon.Observed(ctx, c.Name)
			if st.Connectivity.State != health.StateReady || !st.Connectivity.CheckedAt.After(*before[c.Name]) {
				t.Errorf("%s while %s is down: state %s, checked %s (before %s)", c.Name, victim.Name, st.Connectivity.State, st.Connectivity.CheckedAt, before[c.Name])
			}
			rec, _ := f.Registry.Get(ctx, "", c.Name)
			start := time.Now()
			if st, err := mon.Check(ctx, rec); err != nil || st.Connectivity.State != health.StateReady {
				t.Errorf("%s on-demand check: %v %+v", c.Name, err, st.Connectivity)
			}
			t.Logf("%s probe took %s while %s is down", c.Name, time.Since(start).Round(time.Millisecond), victim.Name)
		}
		if st, _ := mon.Observed(ctx, victim.Name); st.Connectivity.Breaker == health.BreakerClosed {
			t.Errorf("the dead cluster's breaker is still closed: %+v", st.Connectivity)
		}

		if err := victim.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		waitState(t, mon, victim.Name, health.StateReady, 15*time.Second)

		events, err := f.Store.Events(ctx, victim.Name, 10)
		if err != nil {
			t.Fatal(err)
		}
		var states []health.State
		for i := len(events) - 1; i >= 0; i-- {
			if events[i].Type != health.EventConnectivityChanged {
				continue
			}
			var data struct {
				State         health.State
				PreviousState *string `json:"previous_state"`
			}
			json.Unmarshal([]byte(events[i].Data), &data)
			// The contract's enum has no "": the first change has previous_state null.
			if first := len(states) == 0; first != (data.PreviousState == nil) || (!first && *data.PreviousState == "") {
				t.Errorf("connectivity event %d: previous_state %v", len(states), data.PreviousState)
			}
			states = append(states, data.State)
		}
		want := []health.State{health.StateReady, health.StateUnreachable, health.StateReady}
		if len(states) != len(want) || states[0] != want[0] || states[1] != want[1] || states[2] != want[2] {
			t.Fatalf("connectivity events %v, want %v", states, want)
		}
	})
}

// TestObservedAllIncludesNeverProbed: a cluster registered but never
// probed is in ObservedAll like any other, as Observed reports it.
func TestObservedAllIncludesNeverProbed(t *testing.T) {
	dbtest.EachContext(t, func(t *testing.T, ctx context.Context, db dbtest.Database) {
		f := fleettest.New(t, db, fleettest.Options{})
		if _, _, err := f.Registry.Put(ctx, fleettest.Org, clusters.Record{ID: "fresh", AllowedNamespaces: []string{"default"}}); err != nil {
			t.Fatal(err)
		}
		all, err := f.Monitor.ObservedAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st, ok := all["fresh"]
		if !ok || st.Connectivity.State != health.StateNoCredentials || st.Connectivity.Message != "not probed yet" {
			t.Fatalf("ObservedAll[fresh] = %+v, %v", st.Connectivity, ok)
		}
	})
}
