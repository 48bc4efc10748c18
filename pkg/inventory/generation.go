package inventory

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// AwaitingController tells whether u's controller has yet to observe its
// current generation: status.observedGeneration is missing or below
// metadata.generation. kstatus calls a custom resource without
// observedGeneration and conditions Current, which is true of a freshly
// created one before its controller saw it; pkg/apply (waiting on a run)
// and pkg/observe (polling status) both hold objects of controller groups
// InProgress while this is true, with message as the reason.
//
// An object being deleted, without a generation, or with a malformed
// observedGeneration is not awaiting (kstatus judges it).
func AwaitingController(u *unstructured.Unstructured) (message string, awaiting bool) {
	gen := u.GetGeneration()
	if u.GetDeletionTimestamp() != nil || gen == 0 {
		return "", false
	}
	observed, found, err := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	if err != nil || (found && observed >= gen) {
		return "", false
	}
	return fmt.Sprintf("waiting for the controller to observe generation %d", gen), true
}
