package leases

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/storetest"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/store"
)

// Replicas share the clusters by the fair-share rule, a replica that joins
// gets its share from the others, and a dead replica's clusters are taken
// over once its leases and heartbeat age out — with new tokens, so what it
// still writes is dropped. Rounds are driven by hand on one clock.
func TestLeasesShareAndTakeOver(t *testing.T) {
	storetest.Each(t, func(t *testing.T, ctx context.Context, st *store.Store) {
		creds, err := clusters.NewCredentialStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		reg := clusters.NewRegistry(st, creds, clusters.RegistryOptions{})
		for i := range 3 {
			if _, _, err := reg.Put(ctx, "acme", clusters.Record{ID: fmt.Sprint("c", i)}); err != nil {
				t.Fatal(err)
			}
		}
		now := time.Now().UTC()
		clock := func() time.Time { return now }
		keeper := func(name string) *Keeper {
			return NewKeeper(st, reg, Options{Duration: 15 * time.Second, Replica: name, Now: clock})
		}
		a, b, c := keeper("a"), keeper("b"), keeper("c")
		held := func(ls ...*Keeper) string {
			out := ""
			for _, l := range ls {
				out += fmt.Sprint(l.Replica(), len(l.Held()), " ")
			}
			return out
		}

		a.round(ctx) // alone: every cluster is a's
		if got := held(a); got != "a3 " {
			t.Fatalf("alone: %s", got)
		}
		b.round(ctx) // b is live now, but a holds everything
		now = now.Add(5 * time.Second)
		a.round(ctx) // share 2: a gives one up
		b.round(ctx) // and b takes it
		if got := held(a, b); got != "a2 b1 " {
			t.Fatalf("two replicas: %s", got)
		}
		c.round(ctx)
		now = now.Add(5 * time.Second)
		for _, l := range []*Keeper{a, b, c} {
			l.round(ctx)
		}
		if got := held(a, b, c); got != "a1 b1 c1 " {
			t.Fatalf("three replicas: %s", got)
		}

		// a dies: it renews nothing more. Its cluster moves once its lease
		// and heartbeat have aged out, not before.
		dead := a.Held()[0]
		stale, _ := a.Lease(dead)
		now = now.Add(14 * time.Second)
		b.round(ctx)
		c.round(ctx)
		if got := held(b, c); got != "b1 c1 " {
			t.Fatalf("before a's lease expired: %s", got)
		}
		now = now.Add(time.Second + 5*time.Second) // past the expiry, at the survivors' next round
		b.round(ctx)
		c.round(ctx)
		if got := len(b.Held()) + len(c.Held()); got != 3 {
			t.Fatalf("after a's lease expired the survivors hold %d clusters, want 3 (%s)", got, held(b, c))
		}
		var taken store.Lease
		for _, l := range []*Keeper{b, c} {
			if lease, ok := l.Lease(dead); ok {
				taken = lease
				// As an Assigner: the work's context is fenced by that lease.
				if fenced, ok := l.Assign(ctx, dead); !ok {
					t.Error("Assign refuses a cluster whose lease is held")
				} else if f, _ := store.FenceOf(fenced); f != lease {
					t.Errorf("Assign fenced by %+v, want %+v", f, lease)
				}
			} else if _, ok := l.Assign(ctx, dead); ok {
				t.Error("Assign gives a cluster another replica holds")
			}
		}
		if taken.Token <= stale.Token {
			t.Fatalf("taken over with token %d, a held %d", taken.Token, stale.Token)
		}
		if _, ok := a.Lease(dead); ok {
			t.Error("a still believes it holds the lease past its expiry")
		}
		// a wakes up and writes what it saw: dropped, and counted.
		err = st.UpdateClusterStatus(store.WithFence(ctx, stale), dead, func(store.ClusterStatus) (*store.ClusterStatus, []*store.Event, error) {
			return &store.ClusterStatus{ClusterID: dead, State: "ready", CheckedAt: now}, nil, nil
		})
		if !errors.Is(err, store.ErrLeaseLost) || !a.Dropped(err, "probe", dead) {
			t.Fatalf("stale holder's write: %v; want it dropped as ErrLeaseLost", err)
		}
		if a.dropped["probe"] != 1 {
			t.Errorf("dropped writes counted: %v", a.dropped)
		}
	})
}
