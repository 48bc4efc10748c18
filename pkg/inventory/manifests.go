package inventory

import (
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// DecodeManifests decodes a job's stored manifests (a JSON array of
// objects, as the store keeps them) into objects, unchanged: pkg/jobs runs
// them, pkg/observe stamps them as the applied state a drift check
// compares with.
func DecodeManifests(stored string) ([]*unstructured.Unstructured, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(stored), &raw); err != nil {
		return nil, fmt.Errorf("stored manifests: %w", err)
	}
	out := make([]*unstructured.Unstructured, 0, len(raw))
	for i, m := range raw {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(m); err != nil {
			return nil, fmt.Errorf("stored manifest %d: %w", i, err)
		}
		out = append(out, u)
	}
	return out, nil
}
