package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/vworkspace/pushd/internal/golden"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/health"
	"github.com/vworkspace/pushd/pkg/store"
)

// refusal is one refusal as an answer carries it: the API's code, message
// and details entry, and the CLI's lines, are all made of these.
type refusal struct {
	Code       string
	Field      string
	Value      string `json:",omitempty"`
	APIVersion string `json:",omitempty"`
	Kind       string `json:",omitempty"`
	Name       string `json:",omitempty"`
	Message    string
}

// answer is what the rule book answered one job: its refusals (of a long
// list, the first two and the last, and how many it held and cut), another
// error, or the objects it would write.
type answer struct {
	Refusals []refusal `json:",omitempty"`
	Listed   int       `json:",omitempty"`
	Omitted  int       `json:",omitempty"`
	Error    string    `json:",omitempty"`
	Unread   bool      `json:",omitempty"`
	Accepted []string  `json:",omitempty"`
}

func answerOf(objs []string, err error) answer {
	var re *RuleError
	var unread *unreadError
	switch {
	case errors.As(err, &re):
		o := answer{Omitted: re.Omitted}
		all := re.All()
		if len(all) > 20 {
			o.Listed = len(all)
			all = []*RuleError{all[0], all[1], all[len(all)-1]}
		}
		for _, r := range all {
			o.Refusals = append(o.Refusals, refusal{string(r.Code), r.Field, r.Value, r.APIVersion, r.Kind, r.Name, r.Message})
		}
		return o
	case err != nil:
		return answer{Error: err.Error(), Unread: errors.As(err, &unread)}
	}
	return answer{Accepted: objs}
}

// ruleMonitor is a monitor whose breaker and last probe the test sets.
type ruleMonitor struct {
	closed bool // the breaker lets calls through
	status health.Status
	err    error
}

func (m ruleMonitor) Allow(string) bool { return m.closed }
func (m ruleMonitor) Observed(context.Context, string) (health.Status, error) {
	return m.status, m.err
}

// ruleClusters answers for one record (none when rec is nil), with the
// fuzz test's discovery and a namespace API holding nss.
type ruleClusters struct {
	rec     *clusters.Record
	clients *clusters.Clients
	noCreds bool
}

func (c ruleClusters) Get(context.Context, string, string) (*clusters.Record, error) {
	if c.rec == nil {
		return nil, clusters.ErrNotFound
	}
	return c.rec, nil
}

func (c ruleClusters) Clients(string) (*clusters.Clients, error) {
	if c.noCreds {
		return nil, clusters.ErrNoCredentials
	}
	return c.clients, nil
}

// TestRefusalsAsBefore pins every refusal the rule book makes — at intake
// (Submit's check) and at claim (recheck) — field by field and word by
// word in testdata/refusals.json, so that the rules can move between files
// and packages without a code, message or details entry changing.
func TestRefusalsAsBefore(t *testing.T) {
	obj := func(apiVersion, kind, name string, fields map[string]any) json.RawMessage {
		u := map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": map[string]any{"name": name}}
		for k, v := range fields {
			if k == "metadata" {
				for mk, mv := range v.(map[string]any) {
					u["metadata"].(map[string]any)[mk] = mv
				}
				continue
			}
			u[k] = v
		}
		b, _ := json.Marshal(u)
		return b
	}
	cm := func(name string, meta map[string]any) json.RawMessage {
		return obj("v1", "ConfigMap", name, map[string]any{"metadata": meta, "data": map[string]any{"k": "v"}})
	}
	otherCluster := map[string]any{"labels": map[string]any{"app.vworkspace.io/cluster-id": "prod-2"}}
	spec := func(mutate func(*Spec), manifests ...json.RawMessage) Spec {
		s := Spec{ID: "j", Cluster: "prod-1", Operation: Operation{Engine: "manifest", Type: "deploy"},
			Application: "nextcloud", Namespace: "shop", Action: ActionApply, Manifests: manifests, TimeoutSeconds: 30}
		if mutate != nil {
			mutate(&s)
		}
		return s
	}
	labeled := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{clusters.PodSecurityEnforceLabel: "restricted"}}}
	unlabeled := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}
	overPrivileged := health.Status{Credential: health.CredentialInfo{ExcessRights: []string{"delete nodes"}}}

	var many []json.RawMessage
	for i := range 120 {
		many = append(many, obj("v1", "ServiceAccount", fmt.Sprintf("sa-%d", i), nil))
	}
	tests := []struct {
		name        string
		spec        Spec
		rec         func(*clusters.Record) // changes to fuzzRecord
		mon         ruleMonitor            // the last probe (the breaker is closed unless breakerOpen)
		breakerOpen bool
		nss         []*corev1.Namespace // the cluster's namespaces, for Pod Security
		noCreds     bool
		claim       func(*store.Job) // set: checked at claim, with the stored job changed so
		noRec       bool             // at claim: the record is gone
	}{
		{name: "accepted", spec: spec(nil, cm("a", nil), cm("b", map[string]any{"namespace": "shop"}))},
		{name: "application not allowed", spec: spec(func(s *Spec) { s.Application = "wiki" }, cm("a", nil))},
		{name: "no application allowed", spec: spec(nil, cm("a", nil)), rec: func(r *clusters.Record) { r.AllowedApplications = nil }},
		{name: "namespace not allowed", spec: spec(func(s *Spec) { s.Namespace = "kube-system" }, cm("a", nil))},
		{name: "operation not allowed", spec: spec(func(s *Spec) { s.Operation.Type = "backup" }, cm("a", nil))},
		{name: "no credentials", spec: spec(nil, cm("a", nil)), noCreds: true},
		{name: "every object rule", spec: spec(nil,
			cm("fine", nil),
			obj("v1", "Namespace", "evil", map[string]any{"metadata": map[string]any{"namespace": "other"}}),
			obj("vworkspace.io/v1alpha1", "Operation", "op", nil),
			obj("v1", "ServiceAccount", "sa", nil),
			cm("elsewhere", map[string]any{"namespace": "default"}),
			obj("v1", "Secret", "tok", map[string]any{"type": "kubernetes.io/service-account-token", "stringData": map[string]any{"p": "hunter2"}}),
			obj("v1", "Secret", "opaque", map[string]any{"type": "Opaque"}),
			obj("v1", "Service", "ext", map[string]any{"spec": map[string]any{"externalIPs": []any{"10.0.0.1"}}}),
			obj("v1", "Service", "none", map[string]any{"spec": map[string]any{"externalIPs": []any{}}}),
			obj("v1", "Service", "odd", map[string]any{"spec": map[string]any{"externalIPs": "10.0.0.1"}}),
			cm("theirs", otherCluster),
			cm("ours", map[string]any{"labels": map[string]any{"app.vworkspace.io/cluster-id": "prod-1"}}),
			obj("rbac.authorization.k8s.io/v1", "Role", "r", map[string]any{"metadata": map[string]any{"namespace": "default"}}),
			obj("v1", "Secret", "all", map[string]any{"type": "kubernetes.io/service-account-token",
				"metadata": map[string]any{"namespace": "other", "labels": map[string]any{"app.vworkspace.io/cluster-id": "prod-2"}}}),
			obj("apps/v1", "Deployment", "d", map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"hostNetwork": true}}}}),
		)},
		{name: "cluster-scoped kind, breaker open", spec: spec(nil, obj("v1", "Namespace", "evil", nil), obj("vworkspace.io/v1alpha1", "Operation", "op", nil)),
			breakerOpen: true},
		{name: "malformed after refusals", spec: spec(nil, obj("v1", "ServiceAccount", "sa", nil), json.RawMessage(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}`), obj("v1", "Role", "r", nil))},
		{name: "malformed first", spec: spec(nil, json.RawMessage(`{"kind":7}`), obj("v1", "ServiceAccount", "sa", nil))},
		{name: "nameless first", spec: spec(nil, json.RawMessage(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}`))},
		{name: "more refusals than listed", spec: spec(nil, many...)},
		{name: "delete job", spec: spec(func(s *Spec) { s.Action = ActionDelete })},
		{name: "over-privileged", spec: spec(nil, cm("a", nil)), mon: ruleMonitor{status: overPrivileged}},
		{name: "over-privileged accepted", spec: spec(nil, cm("a", nil)), mon: ruleMonitor{status: overPrivileged},
			rec: func(r *clusters.Record) { r.AcceptExcessRights = true }},
		{name: "observed status unreadable", spec: spec(nil, cm("a", nil)), mon: ruleMonitor{err: errors.New("database is down")}},
		{name: "objects refused before over-privileged", spec: spec(nil, obj("v1", "ServiceAccount", "sa", nil)), mon: ruleMonitor{status: overPrivileged}},
		{name: "pod security: namespace unreadable", spec: spec(nil, cm("a", nil)), rec: func(r *clusters.Record) { r.RequirePodSecurity = true }},
		{name: "pod security: not enforced", spec: spec(nil, cm("a", nil)), rec: func(r *clusters.Record) { r.RequirePodSecurity = true },
			nss: []*corev1.Namespace{unlabeled}},
		{name: "pod security: enforced", spec: spec(nil, cm("a", nil)), rec: func(r *clusters.Record) { r.RequirePodSecurity = true },
			nss: []*corev1.Namespace{labeled}},
		{name: "claim: unchanged", spec: spec(nil, cm("a", nil)), claim: func(*store.Job) {}},
		{name: "claim: record gone", spec: spec(nil, cm("a", nil)), claim: func(*store.Job) {}, noRec: true},
		{name: "claim: record of another generation", spec: spec(nil, cm("a", nil)), claim: func(j *store.Job) { j.ClusterUID = "old-uid" }},
		{name: "claim: narrowed record", spec: spec(nil, cm("a", nil)), claim: func(*store.Job) {},
			rec: func(r *clusters.Record) { r.AllowedNamespaces = []string{"other"} }},
		{name: "claim: object rules", spec: spec(nil, cm("theirs", otherCluster)), claim: func(*store.Job) {}},
		{name: "claim: delete job", spec: spec(func(s *Spec) { s.Action = ActionDelete }), claim: func(*store.Job) {}},
	}
	got := map[string]answer{}
	base := fuzzService()
	for _, tt := range tests {
		rec := *fuzzRecord
		rec.UID = "uid-1"
		if tt.rec != nil {
			tt.rec(&rec)
		}
		tt.mon.closed = !tt.breakerOpen
		clients := *base.clusters.(fuzzClusters).clients
		kube := fake.NewClientset()
		for _, ns := range tt.nss {
			kube.Tracker().Add(ns)
		}
		clients.Kube = kube
		cs := ruleClusters{rec: &rec, clients: &clients, noCreds: tt.noCreds}
		if tt.noRec {
			cs.rec = nil
		}
		s := &scope{clusters: cs, monitor: tt.mon, allowed: DefaultAllowedKinds()}
		sp := tt.spec
		if tt.claim == nil {
			objs, err := s.check(t.Context(), &rec, &sp)
			var nss []string
			for _, u := range objs {
				nss = append(nss, u.GetKind()+"/"+u.GetNamespace()+"/"+u.GetName())
			}
			got[tt.name] = answerOf(nss, err)
			continue
		}
		manifests, _ := json.Marshal(sp.Manifests)
		job := &store.Job{Organization: "acme", ID: sp.ID, Cluster: sp.Cluster, ClusterUID: "uid-1", Namespace: sp.Namespace, Application: sp.Application,
			Engine: sp.Operation.Engine, Type: sp.Operation.Type, Action: sp.Action, Manifests: string(manifests)}
		tt.claim(job)
		_, err := s.recheck(t.Context(), job)
		got[tt.name] = answerOf([]string{"checked at claim"}, err)
	}
	golden.JSON(t, filepath.Join("testdata", "refusals.json"), got)
}
