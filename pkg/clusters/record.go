package clusters

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/vworkspace/pushd/pkg/cronspec"
	"github.com/vworkspace/pushd/pkg/outcome"
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
	// Health are the record's own health rules, for kinds whose readiness
	// kstatus cannot read from their status.
	Health    []HealthRule `json:"health"`
	Drift     Drift        `json:"drift"`
	PublicKey string       `json:"public_key,omitempty"`
	CreatedAt time.Time    `json:"created_at"`
	UpdatedAt time.Time    `json:"updated_at"`

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

// Operation is an (engine, type) pair a cluster accepts, e.g. (manifest,
// deploy), with how an operate job of that pair is judged and kept.
type Operation struct {
	Engine string `json:"engine"`
	Type   string `json:"type"`
	// Succeeded, Failed (CEL bools) and Message (a CEL string) judge an
	// operate job's object, Outputs (name to CEL expression) say what of it
	// the job's result carries (pkg/outcome). None given: the vWorkspace
	// Operation contract (outcome.DefaultOperation).
	Succeeded string            `json:"succeeded,omitempty"`
	Failed    string            `json:"failed,omitempty"`
	Message   string            `json:"message,omitempty"`
	Outputs   map[string]string `json:"outputs,omitempty"`
	// MaxDurationSeconds is how long an operate job may run before pushd
	// gives up on its outcome; Normalize makes 0 DefaultMaxDurationSeconds.
	MaxDurationSeconds int `json:"max_duration_seconds"`
	// TTLSecondsAfterFinished is how long the objects of a finished operate
	// job are kept in the cluster; Normalize makes nil
	// DefaultTTLSecondsAfterFinished, and 0 deletes them at once.
	TTLSecondsAfterFinished *int `json:"ttl_seconds_after_finished"`

	// rules are the compiled rules, set by Normalize and when the record is
	// loaded: records are copied by value, and the pointer with them.
	rules *outcome.OperationRules
}

// Limits and defaults of an operation's durations.
const (
	DefaultMaxDurationSeconds      = 3600
	MaxMaxDurationSeconds          = 7 * 24 * 3600
	DefaultTTLSecondsAfterFinished = 24 * 3600
	MaxTTLSecondsAfterFinished     = 30 * 24 * 3600
)

// OperationSpec is the operation's rules as outcome compiles them.
func (o Operation) OperationSpec() outcome.OperationSpec {
	return outcome.OperationSpec{Succeeded: o.Succeeded, Failed: o.Failed, Message: o.Message, Outputs: o.Outputs}
}

// Rules are the operation's compiled rules (the default contract when it
// has none). A normalized or loaded record has them compiled already.
func (o Operation) Rules() (*outcome.OperationRules, error) {
	if o.rules != nil {
		return o.rules, nil
	}
	return outcome.CompileOperation(o.OperationSpec())
}

// MaxDuration and TTLAfterFinished are the operation's durations, defaults
// filled in.
func (o Operation) MaxDuration() time.Duration {
	if o.MaxDurationSeconds == 0 {
		return DefaultMaxDurationSeconds * time.Second
	}
	return time.Duration(o.MaxDurationSeconds) * time.Second
}

func (o Operation) TTLAfterFinished() time.Duration {
	if o.TTLSecondsAfterFinished == nil {
		return DefaultTTLSecondsAfterFinished * time.Second
	}
	return time.Duration(*o.TTLSecondsAfterFinished) * time.Second
}

// HealthRule says when objects of one kind are healthy: CEL bools over
// `object`, for kinds kstatus cannot judge (it reads the standard Ready
// conditions and the core workloads).
type HealthRule struct {
	// Group is the kind's API group, empty for the core group.
	Group   string `json:"group"`
	Kind    string `json:"kind"`
	Current string `json:"current"`
	Failed  string `json:"failed,omitempty"`

	rules *outcome.HealthRules // as Operation.rules
}

// Rules are the rule's compiled rules.
func (h HealthRule) Rules() (*outcome.HealthRules, error) {
	if h.rules != nil {
		return h.rules, nil
	}
	return outcome.CompileHealth(outcome.HealthSpec{Current: h.Current, Failed: h.Failed})
}

// HealthRuleFor is the record's health rule of group/kind, if it has one.
func (r *Record) HealthRuleFor(group, kind string) (HealthRule, bool) {
	for _, h := range r.Health {
		if h.Group == group && h.Kind == kind {
			return h, true
		}
	}
	return HealthRule{}, false
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

// AllowsNamespace, AllowsApplication and AllowedOperation are the scope checks.
func (r *Record) AllowsNamespace(ns string) bool { return slices.Contains(r.AllowedNamespaces, ns) }
func (r *Record) AllowsApplication(app string) bool {
	return slices.Contains(r.AllowedApplications, app)
}

// AllowedOperation is the record's entry of (engine, type), if it allows it.
func (r *Record) AllowedOperation(engine, typ string) (Operation, bool) {
	for _, op := range r.AllowedOperations {
		if op.Engine == engine && op.Type == typ {
			return op, true
		}
	}
	return Operation{}, false
}

// ValidationError is a record field that is malformed (HTTP 400).
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

// RuleError is a well-formed request a rule refuses (HTTP 422); Code names
// the rule, Field (when one is to blame) where in the record.
type RuleError struct {
	Code   string
	Reason string
	Field  string
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
		return &RuleError{Code: "connectivity_not_supported", Field: "connectivity", Reason: fmt.Sprintf("connectivity %q is not served by pushd, which only reaches clusters in push mode", r.Connectivity)}
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
	if err := r.normalizeOperations(); err != nil {
		return err
	}
	if err := r.normalizeHealth(); err != nil {
		return err
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
			return &RuleError{Code: "invalid_drift_schedule", Field: "drift.schedule", Reason: fmt.Sprintf("drift.schedule is not a five-field UTC cron expression: %v", err)}
		}
	}
	if r.Labels == nil {
		r.Labels = map[string]string{}
	}
	return nil
}

// RuleInvalid is the code of a record whose CEL rule does not compile.
const RuleInvalid = "invalid_rule"

func (r *Record) normalizeOperations() error {
	seen := map[[2]string]bool{}
	for i := range r.AllowedOperations {
		op := &r.AllowedOperations[i]
		field := fmt.Sprintf("allowed_operations[%d]", i)
		if op.Engine == "" || op.Type == "" {
			return &ValidationError{field, "each operation needs an engine and a type"}
		}
		if seen[[2]string{op.Engine, op.Type}] {
			return &ValidationError{field, fmt.Sprintf("%s/%s is listed twice", op.Engine, op.Type)}
		}
		seen[[2]string{op.Engine, op.Type}] = true
		if op.MaxDurationSeconds == 0 {
			op.MaxDurationSeconds = DefaultMaxDurationSeconds
		}
		if op.MaxDurationSeconds < 1 || op.MaxDurationSeconds > MaxMaxDurationSeconds {
			return &ValidationError{field + ".max_duration_seconds", fmt.Sprintf("%d: want 1 to %d (7 days)", op.MaxDurationSeconds, MaxMaxDurationSeconds)}
		}
		if op.TTLSecondsAfterFinished == nil {
			op.TTLSecondsAfterFinished = new(int(DefaultTTLSecondsAfterFinished))
		}
		if ttl := *op.TTLSecondsAfterFinished; ttl < 0 || ttl > MaxTTLSecondsAfterFinished {
			return &ValidationError{field + ".ttl_seconds_after_finished", fmt.Sprintf("%d: want 0 to %d (30 days)", ttl, MaxTTLSecondsAfterFinished)}
		}
		rules, err := outcome.CompileOperation(op.OperationSpec())
		if err != nil {
			return ruleError(field, err)
		}
		op.rules = rules
	}
	return nil
}

func (r *Record) normalizeHealth() error {
	if r.Health == nil {
		r.Health = []HealthRule{}
	}
	seen := map[[2]string]bool{}
	for i := range r.Health {
		h := &r.Health[i]
		field := fmt.Sprintf("health[%d]", i)
		if h.Kind == "" {
			return &ValidationError{field + ".kind", "a health rule needs a kind"}
		}
		if seen[[2]string{h.Group, h.Kind}] {
			return &ValidationError{field, fmt.Sprintf("a second rule for group %q kind %q", h.Group, h.Kind)}
		}
		seen[[2]string{h.Group, h.Kind}] = true
		// A rule reads the whole object: one on a Secret would have pushd
		// read the Secret's data to judge it.
		if h.Group == "" && h.Kind == "Secret" {
			return &RuleError{Code: RuleInvalid, Field: field + ".kind", Reason: field + ".kind: no health rule may read a Secret"}
		}
		rules, err := outcome.CompileHealth(outcome.HealthSpec{Current: h.Current, Failed: h.Failed})
		if err != nil {
			return ruleError(field, err)
		}
		h.rules = rules
	}
	return nil
}

// ruleError is a compile error of a rule of the record at field.
func ruleError(field string, err error) error {
	var ce *outcome.CompileError
	if !errors.As(err, &ce) {
		return err
	}
	field += "." + ce.Field
	return &RuleError{Code: RuleInvalid, Field: field, Reason: field + ": " + ce.Message}
}

// loaded fills a stored record's defaults, which a record stored before
// they existed lacks, and compiles its rules, which Normalize checked when
// it was stored: a rule this pushd no longer compiles is left uncompiled,
// and its Rules says why when it is used.
func (r *Record) loaded() {
	for i := range r.AllowedOperations {
		op := &r.AllowedOperations[i]
		if op.MaxDurationSeconds == 0 {
			op.MaxDurationSeconds = DefaultMaxDurationSeconds
		}
		if op.TTLSecondsAfterFinished == nil {
			op.TTLSecondsAfterFinished = new(int(DefaultTTLSecondsAfterFinished))
		}
		op.rules, _ = outcome.CompileOperation(op.OperationSpec())
	}
	if r.Health == nil {
		r.Health = []HealthRule{}
	}
	for i := range r.Health {
		h := &r.Health[i]
		h.rules, _ = outcome.CompileHealth(outcome.HealthSpec{Current: h.Current, Failed: h.Failed})
	}
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

// PodSecurityMinimum is the least Pod Security level a namespace must
// enforce for a record that requires Pod Security. privileged admits every
// pod, so a namespace labeled with it enforces nothing.
const PodSecurityMinimum = "baseline"

// podSecurityLevels are the Pod Security levels, least strict first.
var podSecurityLevels = []string{"privileged", "baseline", "restricted"}

// PodSecurityEnforces reports whether a namespace whose enforce label is
// level enforces at least minimum. A missing label or a value admission
// does not know is not a level: Pod Security admission does not treat an
// unknown value as stricter than the cluster's default, so pushd cannot
// either.
func PodSecurityEnforces(level, minimum string) bool {
	have, want := slices.Index(podSecurityLevels, level), slices.Index(podSecurityLevels, minimum)
	return have >= 0 && want >= 0 && have >= want
}

// JudgeHealth is the status of a live object by the record's health rule
// for its kind (kstatus's names: Current, InProgress, Failed) and why; ok
// is false when the record has no rule for the kind, and kstatus judges.
// Apply jobs, status polls and the UI ask it before kstatus, so a custom
// resource without conditions is InProgress until its rule says otherwise.
func (r *Record) JudgeHealth(obj map[string]any, group, kind string) (status, message string, ok bool) {
	h, found := r.HealthRuleFor(group, kind)
	if !found {
		return "", "", false
	}
	rules, err := h.Rules()
	if err != nil { // Normalize compiled it; a record read back compiles again
		return "Unknown", "health rule: " + err.Error(), true
	}
	status, message = rules.Evaluate(obj)
	return status, message, true
}
