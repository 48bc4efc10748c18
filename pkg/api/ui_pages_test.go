package api

import (
	"strings"
	"testing"
)

func TestUIEventSummary(t *testing.T) {
	tests := []struct {
		name string
		data string // the event's JSON data
		want string
	}{
		{"connectivity", `{"cluster_id":"c1","state":"unreachable","previous_state":"ready","message":"dial tcp: refused","checked_at":"2026-01-01T00:00:00Z"}`,
			"state=unreachable · previous_state=ready · message=dial tcp: refused"},
		{"failed job", `{"id":"j1","application":"nextcloud","namespace":"apps","action":"apply","status":"failed","attempt":1,"error":{"code":"apply_failed","message":"boom"},"objects":[{},{}]}`,
			"id=j1 · application=nextcloud · namespace=apps · action=apply · status=failed · error=apply_failed: boom · objects=2"},
		{"drift", `{"namespace":"apps","application":"web","mode":"report","objects":[{}],"correction_job":null}`,
			"application=web · namespace=apps · mode=report · objects=1"},
		{"nothing telling", `{"cluster_id":"c1"}`, ""},
		{"not JSON", `not json`, "not json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := uiEventSummary(tt.data); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
	long := uiEventSummary(`{"message":"` + strings.Repeat("é", 500) + `"}`)
	if n := len([]rune(long)); n != uiSummaryRunes || !strings.HasSuffix(long, "…") {
		t.Fatalf("a long summary is cut at %d runes with an ellipsis: %d runes, %q…", uiSummaryRunes, n, long[:20])
	}
}
