package faultcheck

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/vworkspace/pushd/pkg/store"
)

// checkTerminalOnce: one terminal event per job in the store, delivered
// under one webhook-id, agreeing with the row's status and attempt.
func checkTerminalOnce(rep *Report, in Input, jobs []store.Job, events []store.Event) {
	stored := map[JobRef][]store.Event{}
	for _, e := range events {
		if e.Type != jobStatusChanged {
			continue
		}
		var d jobData
		if err := json.Unmarshal([]byte(e.Data), &d); err != nil {
			rep.problem("event %s: unreadable job payload: %v", e.ID, err)
			continue
		}
		if terminal(d.Status) {
			ref := JobRef{e.Organization, d.ID}
			stored[ref] = append(stored[ref], e)
		}
	}
	delivered := map[JobRef]map[string]jobData{} // webhook-id → payload
	for _, d := range in.Deliveries {
		if d.Type != jobStatusChanged {
			continue
		}
		var j jobData
		if err := json.Unmarshal(d.Data, &j); err != nil {
			rep.problem("delivery %s: unreadable job payload: %v", d.WebhookID, err)
			continue
		}
		if !terminal(j.Status) {
			continue
		}
		ref := JobRef{d.Organization, j.ID}
		if delivered[ref] == nil {
			delivered[ref] = map[string]jobData{}
		}
		delivered[ref][d.WebhookID] = j
	}
	for _, j := range jobs {
		ref := JobRef{j.Organization, j.ID}
		if !j.Terminal() {
			continue // reported by checkIntake
		}
		if n := len(stored[ref]); n != 1 {
			rep.problem("job %s: %d terminal events stored, want exactly 1", ref, n)
		}
		got := delivered[ref]
		if len(got) != 1 {
			ids := make([]string, 0, len(got))
			for id, d := range got {
				ids = append(ids, fmt.Sprintf("%s (%s, attempt %d)", id, d.Status, d.Attempt))
			}
			sort.Strings(ids)
			rep.problem("job %s: %d distinct terminal events delivered %v, want exactly 1", ref, len(got), ids)
			continue
		}
		for id, d := range got {
			if d.Status != j.Status {
				rep.problem("job %s: delivered %s (event %s) but stored %s", ref, d.Status, id, j.Status)
			}
			if d.Attempt != j.Attempt {
				rep.problem("job %s: terminal event %s is of attempt %d, the row's last claim is attempt %d (a stale claim wrote it)", ref, id, d.Attempt, j.Attempt)
			}
		}
	}
}

// checkOutbox: the store's events and the receiver's record are the same
// set, but for parked events.
func checkOutbox(rep *Report, in Input, events []store.Event, parked map[string]bool) {
	received := map[string]bool{}
	for _, d := range in.Deliveries {
		if received[d.WebhookID] {
			rep.Redelivered++
		}
		received[d.WebhookID] = true
	}
	held := map[string]bool{}
	for _, e := range events {
		held[e.ID] = true
		switch {
		case parked[e.ID]:
		case e.DeliveredAt == nil:
			rep.problem("event %s (%s, cluster %q) is not delivered: the outbox is not drained", e.ID, e.Type, e.Cluster)
		case !received[e.ID]:
			rep.problem("event %s (%s, cluster %q) is marked delivered but never reached the receiver", e.ID, e.Type, e.Cluster)
		}
	}
	for id := range received {
		if !held[id] {
			rep.problem("delivery %s is no event of the store", id)
		}
	}
}

// checkOrder: per cluster, the first arrival of each event comes after the
// first arrival of every event the store wrote before it about the same
// subject (a job, an application, the cluster itself). A retry of an event
// may arrive again later (at least once); a parked event is out of order by
// design. Events of different subjects written by concurrent transactions
// are ordered as they committed, which on PostgreSQL need not be the order
// of their sequence numbers: those inversions are counted (Reordered), not
// reported.
func checkOrder(rep *Report, in Input, events []store.Event, parked map[string]bool) {
	byID := map[string]store.Event{}
	for _, e := range events {
		byID[e.ID] = e
	}
	type last struct {
		seq int64
		id  string
	}
	latest := map[string]last{} // cluster + subject → latest first arrival
	cluster := map[string]last{}
	seen := map[string]bool{}
	for _, d := range in.Deliveries {
		e, ok := byID[d.WebhookID]
		if !ok || seen[d.WebhookID] || parked[d.WebhookID] {
			continue
		}
		seen[d.WebhookID] = true
		if l := cluster[d.Cluster]; e.Seq < l.seq {
			rep.Reordered++
			rep.Notes = append(rep.Notes, fmt.Sprintf("cluster %q: %s event %s about the %s (seq %d) first arrived after %s (seq %d, about the %s): committed after it",
				d.Cluster, e.Type, e.ID, subject(e), e.Seq, l.id, l.seq, subject(byID[l.id])))
		} else {
			cluster[d.Cluster] = last{e.Seq, e.ID}
		}
		key := d.Cluster + "\x00" + subject(e)
		if l := latest[key]; e.Seq < l.seq {
			rep.problem("cluster %q: %s event %s (store seq %d) first arrived after %s (seq %d) about the same %s", d.Cluster, e.Type, e.ID, e.Seq, l.id, l.seq, subject(e))
			continue
		}
		latest[key] = last{e.Seq, e.ID}
	}
}

// subject is what an event is about: its job, its application, or its
// cluster as a whole.
func subject(e store.Event) string {
	var d struct{ ID, Namespace, Application string }
	json.Unmarshal([]byte(e.Data), &d)
	switch {
	case e.Type == jobStatusChanged:
		return "job " + d.ID
	case d.Application != "":
		return "application " + d.Namespace + "/" + d.Application
	}
	return "cluster"
}
