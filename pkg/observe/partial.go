package observe

import (
	"context"
	"errors"
	"fmt"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/inventory"
)

// Partial observations stay partial. The inventories are listed namespace
// by namespace: one the credential cannot read (it does not exist, or its
// rights are missing) is reported with the reason, and the applications
// of the others are listed, polled and checked as usual. Only when no
// namespace could be read is the cluster taken as unreachable.

// NamespaceError is an allowed namespace whose inventories could not be
// listed, and why.
type NamespaceError struct {
	Namespace string `json:"namespace"`
	Reason    string `json:"reason"`
}

// ApplicationList is a cluster's applications, with the namespaces that
// could not be read (their applications, if seen before, are listed as
// unknown).
type ApplicationList struct {
	Items                []Application    `json:"items"`
	UnreadableNamespaces []NamespaceError `json:"unreadable_namespaces"`
}

// listInventories lists the inventories of each namespace; failed holds
// the namespaces that could not be read. The error (wrapping
// ErrUnreachable) is set when none could, or ctx ended.
func listInventories(ctx context.Context, c *clusters.Clients, namespaces []string) (invs []inventory.Inventory, failed map[string]error, err error) {
	failed = map[string]error{}
	var errs []error
	for _, ns := range namespaces {
		got, err := inventory.List(ctx, c, []string{ns})
		if err != nil {
			failed[ns] = err
			errs = append(errs, err)
			continue
		}
		invs = append(invs, got...)
	}
	if ctx.Err() != nil || (len(namespaces) > 0 && len(failed) == len(namespaces)) {
		return nil, nil, fmt.Errorf("%w: %w", ErrUnreachable, errors.Join(errs...))
	}
	inventory.Sort(invs)
	return invs, failed, nil
}

// namespaceErrors renders failed, in the order of namespaces.
func namespaceErrors(namespaces []string, failed map[string]error) []NamespaceError {
	out := []NamespaceError{}
	for _, ns := range namespaces {
		if err, ok := failed[ns]; ok {
			out = append(out, NamespaceError{Namespace: ns, Reason: err.Error()})
		}
	}
	return out
}
