package inventory

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/cli-utils/pkg/common"
	cliinventory "sigs.k8s.io/cli-utils/pkg/inventory"
)

// Names pushd stamps on cluster objects. They are read back by later runs,
// by drift checks and by other tools, so none of them may ever change.
const (
	// FieldManager is pushd's server-side apply field manager. Applies and
	// drift dry-runs must use the same one, or a dry-run would see pushd's own
	// fields as owned by someone else.
	FieldManager = "pushd"

	// ClusterIDLabel carries the id of the cluster record on every object
	// pushd writes, inventories included (invariant 3 of
	// docs/architecture.md).
	ClusterIDLabel = "app.vworkspace.io/cluster-id"
	// ApplicationLabel names the application an inventory belongs to (the
	// value is ApplicationLabelValue of the name).
	ApplicationLabel = "app.vworkspace.io/application"
	// OperationLabel names the operate job an operation's inventory belongs
	// to (the value is LabelValue of the job id). Inventories carrying it
	// are not their application's: List passes them over, so status polls
	// and drift checks never see an operation's objects.
	OperationLabel = "app.vworkspace.io/operation"
	// ManagedByLabel with value ManagedBy marks the inventories pushd created,
	// so they can be listed apart from other tools' ConfigMaps.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "pushd"
	// IDLabel is the label cli-utils finds an inventory by; its value is ID.
	IDLabel = common.InventoryLabel

	// NamePrefix starts every inventory ConfigMap name.
	NamePrefix = "pushd-inventory-"

	// OwningInventoryAnnotation is the annotation cli-utils writes on every
	// object of an inventory; its value is the inventory's ID.
	OwningInventoryAnnotation = cliinventory.OwningInventoryKey

	// KeepAnnotation=KeepValue is cli-utils' own mark of an object that a
	// delete job or a prune must leave in place: cli-utils then removes
	// it from the inventory (and drops OwningInventoryAnnotation) instead.
	KeepAnnotation = common.OnRemoveAnnotation
	KeepValue      = common.OnRemoveKeep
	// HelmKeepAnnotation=HelmKeepValue is Helm's mark of the same intent
	// (charts put it on data PVCs); Stamp turns it into KeepAnnotation.
	HelmKeepAnnotation = "helm.sh/resource-policy"
	HelmKeepValue      = "keep"
)

// Key identifies one inventory: pushd keeps exactly one per (cluster,
// namespace, application), and one more per operate job of the application
// (Operation set): an operation's objects never join, and are never pruned
// by, the application's own inventory.
type Key struct {
	Cluster     string
	Namespace   string
	Application string
	// Operation is the id of the operate job whose objects the inventory
	// holds; empty for the application's own inventory.
	Operation string
}

func (k Key) String() string {
	s := fmt.Sprintf("cluster %q namespace %q application %q", k.Cluster, k.Namespace, k.Application)
	if k.Operation != "" {
		s += fmt.Sprintf(" operation %q", k.Operation)
	}
	return s
}

// Validate reports what would make the key unusable in a cluster. The
// application may be any non-empty string: Name and the labels adapt it.
func (k Key) Validate() error {
	if errs := validation.IsDNS1123Label(k.Cluster); len(errs) > 0 {
		return fmt.Errorf("inventory: cluster id %q: %s", k.Cluster, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Label(k.Namespace); len(errs) > 0 {
		return fmt.Errorf("inventory: namespace %q: %s", k.Namespace, strings.Join(errs, "; "))
	}
	if k.Application == "" {
		return fmt.Errorf("inventory: application name is empty")
	}
	return nil
}

// Name is the inventory ConfigMap's name: NamePrefix followed by the
// application when that makes a valid DNS subdomain, else by a cleaned-up
// application name and a short hash of the original, so two applications
// never share a name.
func (k Key) Name() string {
	if k.Operation != "" {
		const maxStem = validation.DNS1123SubdomainMaxLength - len(NamePrefix) - len("op-") - 1 - 8
		return NamePrefix + "op-" + clean(k.Operation, maxStem) + "-" + digest(k.Application + "\x00" + k.Operation)[:8]
	}
	if name := NamePrefix + k.Application; len(validation.IsDNS1123Subdomain(name)) == 0 {
		return name
	}
	const maxStem = validation.DNS1123SubdomainMaxLength - len(NamePrefix) - 1 - 8
	return NamePrefix + clean(k.Application, maxStem) + "-" + digest(k.Application)[:8]
}

// ID is the inventory id cli-utils finds the inventory by and writes into
// every object's owning-inventory annotation. It is derived from the whole
// key, so an id is never shared across clusters, namespaces or
// applications. It must never change: objects carrying an old id would no
// longer be recognised as pushd's and could neither be updated nor pruned.
func (k Key) ID() string {
	if k.Operation != "" {
		return "pushd-" + digest(k.Cluster + "\x00" + k.Namespace + "\x00" + k.Application + "\x00operation\x00" + k.Operation)[:32]
	}
	return "pushd-" + digest(k.Cluster + "\x00" + k.Namespace + "\x00" + k.Application)[:32]
}

// Labels are the labels of the inventory ConfigMap.
func (k Key) Labels() map[string]string {
	l := map[string]string{
		IDLabel:          k.ID(),
		ClusterIDLabel:   k.Cluster,
		ApplicationLabel: ApplicationLabelValue(k.Application),
		ManagedByLabel:   ManagedBy,
	}
	if k.Operation != "" {
		l[OperationLabel] = ApplicationLabelValue(k.Operation)
	}
	return l
}

// Stamp makes obj what pushd writes for the key (pkg/apply does the same
// before it applies): in the key's namespace when it names none, labeled
// with the cluster id, annotated with the owning inventory. A drift dry-run
// must send exactly what the apply sent, or it would drop the label and the
// annotation from pushd's fields and see them as drift. A Secret's
// stringData is folded into data (foldStringData). An object marked
// HelmKeepAnnotation=keep is also marked KeepAnnotation=keep, so cli-utils
// keeps it on delete and prune as Helm would.
func (k Key) Stamp(obj *unstructured.Unstructured) {
	foldStringData(obj)
	if obj.GetNamespace() == "" {
		obj.SetNamespace(k.Namespace)
	}
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[ClusterIDLabel] = k.Cluster
	obj.SetLabels(labels)
	annotations := obj.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[OwningInventoryAnnotation] = k.ID()
	if annotations[HelmKeepAnnotation] == HelmKeepValue {
		annotations[KeepAnnotation] = KeepValue
	}
	obj.SetAnnotations(annotations)
}

// ApplicationLabelValue is the value of ApplicationLabel for an application:
// the name itself when it is a valid label value, else a cleaned-up name and
// a short hash of the original.
func ApplicationLabelValue(application string) string {
	if len(validation.IsValidLabelValue(application)) == 0 {
		return application
	}
	const maxStem = validation.LabelValueMaxLength - 1 - 8
	return clean(application, maxStem) + "-" + digest(application)[:8]
}

// Selector selects the inventories pushd keeps in one cluster; add
// ApplicationLabel to narrow it to one application.
func Selector(cluster string) labels.Selector {
	return labels.SelectorFromSet(labels.Set{ManagedByLabel: ManagedBy, ClusterIDLabel: cluster})
}

// clean lowercases s, replaces every character outside [a-z0-9-] with '-',
// trims to max and strips leading and trailing dashes: valid both in a DNS
// subdomain after NamePrefix and as a label value.
func clean(s string, max int) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			b[i] = '-'
		}
	}
	if len(b) > max {
		b = b[:max]
	}
	out := strings.Trim(string(b), "-")
	if out == "" {
		out = "x"
	}
	return out
}

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// foldStringData writes a core Secret's stringData into data, as the API
// server does when it stores one, and drops it. stringData is write-only:
// applied as is, pushd would own .stringData.<key>, a field no stored
// object has, so a value changed in the cluster (in .data) would be no
// field of pushd's and never drift. Applied folded, pushd owns
// .data.<key>. A value that is not a string is left for the API server to
// refuse.
func foldStringData(obj *unstructured.Unstructured) {
	if obj.GroupVersionKind().GroupKind() != (schema.GroupKind{Kind: "Secret"}) {
		return
	}
	str, ok := obj.Object["stringData"].(map[string]any)
	if !ok {
		return
	}
	for _, v := range str {
		if _, ok := v.(string); !ok {
			return
		}
	}
	data, _ := obj.Object["data"].(map[string]any)
	if data == nil {
		data = map[string]any{}
	}
	for k, v := range str {
		data[k] = base64.StdEncoding.EncodeToString([]byte(v.(string)))
	}
	obj.Object["data"] = data
	delete(obj.Object, "stringData")
}
