package ui

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/vworkspace/pushd/pkg/health"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/observe"
)

// Event summaries: one sentence per event on the cluster page.

// eventSummary is one sentence of an event's data for the known event
// types; other types get their telling fields as key=value.
func eventSummary(typ, data string) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		return truncate(data)
	}
	str := func(k string) string { v, _ := m[k].(string); return v }
	objects := 0
	if objs, ok := m["objects"].([]any); ok {
		objects = len(objs)
	}
	app := str("application") + " in " + str("namespace")
	var out string
	switch typ {
	case jobs.EventStatusChanged:
		out = fmt.Sprintf("Job %s (%s, %s) is %s", str("id"), app, str("action"), str("status"))
		if e, ok := m["error"].(map[string]any); ok {
			out += fmt.Sprintf(": %v", e["message"])
		}
	case health.EventConnectivityChanged:
		out = "Connectivity: " + str("state")
		if prev := str("previous_state"); prev != "" {
			out = fmt.Sprintf("Connectivity %s → %s", prev, str("state"))
		}
		if r := notReadyReason(health.Connectivity{State: health.State(str("state")), Message: str("message")}); r != "" {
			out += ": " + r
		}
	case health.EventCredentialExpiring:
		out = "The credential of " + str("subject") + " expires " + str("expiry")
	case observe.EventHealthChanged:
		out = fmt.Sprintf("%s: health %s → %s", app, str("previous_health"), str("health"))
	case observe.EventDriftDetected:
		out = fmt.Sprintf("%s drifted: %s changed outside pushd (mode %s)", app, plural(objects, "object"), str("mode"))
		if id := str("correction_job"); id != "" {
			out += "; correction job " + id
		}
	case observe.EventDriftResolved:
		out = app + " is in sync again"
	default:
		out = eventFields(m)
	}
	return truncate(out)
}

// eventKeys are the fields of event data worth a summary, in order.
var eventKeys = []string{
	"id", "application", "namespace", "action", "status", "state", "previous_state",
	"health", "previous_health", "mode", "subject", "expiry", "correction_job", "message",
}

// eventFields is the telling fields of an event of a type without a
// sentence, in a fixed order.
func eventFields(m map[string]any) string {
	var parts []string
	for _, k := range eventKeys {
		switch v := m[k].(type) {
		case nil:
		case string:
			if v != "" {
				parts = append(parts, k+"="+v)
			}
		case float64, bool:
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	return strings.Join(parts, " · ")
}

// plural is "1 object", "2 objects".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func truncate(s string) string {
	r := []rune(s)
	if len(r) <= summaryRunes {
		return s
	}
	return string(r[:summaryRunes-1]) + "…"
}
