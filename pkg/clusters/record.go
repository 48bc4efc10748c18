package clusters

import (
	"fmt"
	"regexp"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/vworkspace/pushd/pkg/cronspec"
)

// Record is a cluster's identity record: who owns it and what it accepts.
// Every job is checked against it before it is queued.
type Record struct {
	ID                  string            `json:"id"`
	DisplayName         string            `json:"display_name"`
	Organization        string            `json:"organization"`
	Labels              map[string]string `json:"labels"`
	Connectivity        string            `json:"connectivity"`
	AllowedNamespaces   []string          `json:"allowed_namespaces"`
	AllowedApplications []string          `json:"allowed_applications"`
	AllowedOperations   []Operation       `json:"allowed_operations"`
	Drift               Drift             `json:"drift"`
	PublicKey           string            `json:"public_key,omitempty"`
	CreatedAt           time.Time         `json:"created_at"`
	UpdatedAt           time.Time         `json:"updated_at"`

	// RequirePodSecurity refuses jobs into a namespace that does not carry
	// pod-security.kubernetes.io/enforce (Pod Security admission).
	RequirePodSecurity bool `json:"require_pod_security"`

	// UID is the record's generation, set by pushd when the record is
	// created and never reused: a record deleted and created again under
	// the same id has a new one and none of the old one's jobs, events or
	// application states. Ignored in a PUT body.
	UID string `json:"uid"`
	// AcceptExcessRights lets jobs run although the probe found the
	// credential over-privileged (health.Status.OverPrivileged). Off by default:
	// an operator sets it knowingly.
	AcceptExcessRights bool `json:"accept_excess_rights"`
}

// Operation is an (engine, type) pair a cluster accepts, e.g. (manifest, deploy).
type Operation struct {
	Engine string `json:"engine"`
	Type   string `json:"type"`
}

// Drift says when and how the cluster's applications are checked for drift.
type Drift struct {
	// Schedule is a standard five-field cron expression; empty disables checks.
	Schedule string `json:"schedule"`
	// Mode is DriftReport or DriftCorrect.
	Mode string `json:"mode"`
}

const (
	// ConnectivityPush is the only mode pushd serves: it reaches the cluster.
	ConnectivityPush = "push"

	DriftReport  = "report"
	DriftCorrect = "correct"
)

// AllowsNamespace, AllowsApplication and AllowsOperation are the scope checks.
func (r *Record) AllowsNamespace(ns string) bool { return slices.Contains(r.AllowedNamespaces, ns) }
func (r *Record) AllowsApplication(app string) bool {
	return slices.Contains(r.AllowedApplications, app)
}
func (r *Record) AllowsOperation(op Operation) bool { return slices.Contains(r.AllowedOperations, op) }

// ValidationError is a record field that is malformed (HTTP 400).
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

// RuleError is a well-formed request a rule refuses (HTTP 422); Code names the rule.
type RuleError struct {
	Code   string
	Reason string
}

func (e *RuleError) Error() string { return e.Reason }

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// Normalize fills defaults and validates; it returns a *ValidationError or *RuleError.
func (r *Record) Normalize() error {
	if errs := validation.IsDNS1123Label(r.ID); len(errs) > 0 {
		return &ValidationError{"id", fmt.Sprintf("%q is not a DNS label: %s", r.ID, errs[0])}
	}
	if r.DisplayName == "" {
		r.DisplayName = r.ID
	}
	if r.Connectivity == "" {
		r.Connectivity = ConnectivityPush
	}
	if r.Connectivity != ConnectivityPush {
		return &RuleError{"connectivity_not_supported", fmt.Sprintf("connectivity %q is not served by pushd, which only reaches clusters in push mode", r.Connectivity)}
	}
	for k, v := range r.Labels {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return &ValidationError{"labels", fmt.Sprintf("key %q: %s", k, errs[0])}
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return &ValidationError{"labels", fmt.Sprintf("value of %q: %s", k, errs[0])}
		}
	}
	for _, ns := range r.AllowedNamespaces {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return &ValidationError{"allowed_namespaces", fmt.Sprintf("%q is not a namespace name: %s", ns, errs[0])}
		}
	}
	for _, app := range r.AllowedApplications {
		if len(app) > 53 || !nameRE.MatchString(app) {
			return &ValidationError{"allowed_applications", fmt.Sprintf("%q must be a DNS label of at most 53 characters", app)}
		}
	}
	for _, op := range r.AllowedOperations {
		if op.Engine == "" || op.Type == "" {
			return &ValidationError{"allowed_operations", "each operation needs an engine and a type"}
		}
	}
	r.AllowedNamespaces = sortedUnique(r.AllowedNamespaces)
	r.AllowedApplications = sortedUnique(r.AllowedApplications)
	if r.Drift.Mode == "" {
		r.Drift.Mode = DriftReport
	}
	if r.Drift.Mode != DriftReport && r.Drift.Mode != DriftCorrect {
		return &ValidationError{"drift.mode", fmt.Sprintf("%q: want %q or %q", r.Drift.Mode, DriftReport, DriftCorrect)}
	}
	if r.Drift.Schedule != "" {
		if _, err := cronspec.Parse(r.Drift.Schedule); err != nil {
			return &RuleError{"invalid_drift_schedule", fmt.Sprintf("drift.schedule is not a five-field UTC cron expression: %v", err)}
		}
	}
	if r.Labels == nil {
		r.Labels = map[string]string{}
	}
	return nil
}

func sortedUnique(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	out = slices.Compact(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// PodSecurityEnforceLabel sets the Pod Security level admission enforces in
// a namespace (privileged, baseline, restricted).
const PodSecurityEnforceLabel = "pod-security.kubernetes.io/enforce"
