package health

import (
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/store"
)

// EventNamespaceChanged: an allowed namespace appeared or disappeared,
// gained or lost the managed-by label, or its rights became missing or
// excess (or were fixed), as the probe saw it.
const EventNamespaceChanged = "cluster.namespace_changed"

// namespaceView is what namespace events compare and carry of a namespace.
type namespaceView struct {
	Exists        bool     `json:"exists"`
	Labeled       bool     `json:"labeled"`
	RightsOK      bool     `json:"rights_ok"`
	MissingRights []string `json:"missing_rights"`
	ExcessRights  []string `json:"excess_rights"`
}

func viewOf(ns NamespaceStatus) namespaceView {
	return namespaceView{Exists: ns.Exists, Labeled: ns.Labeled, RightsOK: ns.RightsOK, MissingRights: ns.MissingRights, ExcessRights: ns.ExcessRights}
}

// changed tells whether Odoo's picture of the namespace changed: the
// flags, or excess rights appearing or going away.
func (v namespaceView) changed(prev namespaceView) bool {
	return v.Exists != prev.Exists || v.Labeled != prev.Labeled || v.RightsOK != prev.RightsOK ||
		(len(v.ExcessRights) > 0) != (len(prev.ExcessRights) > 0)
}

// namespaceEvents compares two probes that reached the cluster: one event
// per allowed namespace whose state changed (not for one seen the first
// time).
func namespaceEvents(rec *clusters.Record, prev, cur []NamespaceStatus) []*store.Event {
	before := make(map[string]namespaceView, len(prev))
	for _, ns := range prev {
		before[ns.Name] = viewOf(ns)
	}
	var out []*store.Event
	for _, ns := range cur {
		p, ok := before[ns.Name]
		v := viewOf(ns)
		if !ok || !v.changed(p) {
			continue
		}
		out = append(out, clusters.NewEvent(EventNamespaceChanged, rec, map[string]any{"namespace": ns.Name, "state": v, "previous_state": p}))
	}
	return out
}
