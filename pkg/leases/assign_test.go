package leases

import (
	"context"
	"errors"
	"testing"

	"github.com/vworkspace/pushd/pkg/store"
)

// Solo assigns every cluster, unfenced; nothing reaches it from other
// replicas and none of its writes is dropped.
func TestSoloAssignsEveryCluster(t *testing.T) {
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		got, ok := (Solo{}).Assign(ctx, id)
		if !ok || got != ctx {
			t.Fatalf("Solo.Assign(%q) = %v, %v; want ctx as given, true", id, got, ok)
		}
		if _, fenced := store.FenceOf(got); fenced {
			t.Fatalf("Solo fenced %q's work", id)
		}
	}
	if (Solo{}).Requests() != nil {
		t.Error("Solo has a request channel")
	}
	if (Solo{}).Dropped(store.ErrLeaseLost, "probe", "a") || (Solo{}).Dropped(errors.New("x"), "poll", "a") {
		t.Error("Solo dropped a write")
	}
}
