package ui

import (
	"strings"
	"testing"
)

func TestEventSummary(t *testing.T) {
	tests := []struct {
		name, typ string
		data      string // the event's JSON data
		want      string
	}{
		{"connectivity", "cluster.connectivity_changed", `{"cluster_id":"c1","state":"unreachable","previous_state":"ready","message":"Get \"https://127.0.0.1:46281/version?timeout=30s\": dial tcp 127.0.0.1:46281: connect: connection refused","checked_at":"2026-01-01T00:00:00Z"}`,
			"Connectivity ready → unreachable: Nothing answers at the API server's address (connection refused): the cluster or its API server is down."},
		{"failed job", "job.status_changed", `{"id":"j1","application":"nextcloud","namespace":"apps","action":"apply","status":"failed","attempt":1,"error":{"code":"apply_failed","message":"boom"},"objects":[{},{}]}`,
			"Job j1 (nextcloud in apps, apply) is failed: boom"},
		{"drift", "drift.detected", `{"namespace":"apps","application":"web","mode":"report","objects":[{}],"correction_job":null}`,
			"web in apps drifted: 1 object changed outside pushd (mode report)"},
		{"first probe", "cluster.connectivity_changed", `{"cluster_id":"c1","state":"ready","previous_state":""}`, "Connectivity: ready"},
		{"resolved", "drift.resolved", `{"namespace":"apps","application":"web"}`, "web in apps is in sync again"},
		{"health", "application.health_changed", `{"namespace":"apps","application":"web","health":"Failed","previous_health":"Current"}`, "web in apps: health Current → Failed"},
		{"other type", "x.y", `{"cluster_id":"c1","state":"s"}`, "state=s"},
		{"not JSON", "x.y", `not json`, "not json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := eventSummary(tt.typ, tt.data); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
	long := eventSummary("x.y", `{"message":"`+strings.Repeat("é", 500)+`"}`)
	if n := len([]rune(long)); n != summaryRunes || !strings.HasSuffix(long, "…") {
		t.Fatalf("a long summary is cut at %d runes with an ellipsis: %d runes, %q…", summaryRunes, n, long[:20])
	}
}
