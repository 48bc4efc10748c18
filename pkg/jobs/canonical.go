package jobs

import (
	"bytes"
	"encoding/json"
)

// canonical re-encodes each manifest with sorted keys, keeping numbers as
// written; one that does not decode is kept as is. It returns a new slice.
func canonical(manifests []json.RawMessage) []json.RawMessage {
	out := make([]json.RawMessage, len(manifests))
	for i, m := range manifests {
		out[i] = m
		dec := json.NewDecoder(bytes.NewReader(m))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) != nil {
			continue
		}
		if b, err := json.Marshal(v); err == nil {
			out[i] = b
		}
	}
	return out
}
