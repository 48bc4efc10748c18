package outcome

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/ext"
)

const (
	// MaxOutputs is how many outputs one operation may name.
	MaxOutputs = 16
	// MaxOutputBytes is the largest an output may be, as JSON.
	MaxOutputBytes = 1024
	// MaxMessageBytes bounds a verdict's message and each condition's
	// message: they are stored with the job and sent in callbacks.
	MaxMessageBytes = 4096
	// MaxConditions is how many of status.conditions a verdict copies.
	MaxConditions = 32
	// MaxExpressionLength bounds a rule's source, in code points.
	MaxExpressionLength = 4096
	// CostLimit is one evaluation's runtime cost budget, the per-call limit
	// the Kubernetes API server gives a validation rule
	// (k8s.io/apiserver/pkg/apis/cel.PerCallLimit). The object's type is
	// dynamic, so a rule's cost cannot be bounded when it is compiled, as the
	// API server does with a schema's maxItems: the budget is what bounds it.
	CostLimit = 1_000_000
)

// State is an operation's state as its rules judge it.
type State string

const (
	Running   State = "Running"
	Succeeded State = "Succeeded"
	Failed    State = "Failed"
)

// Health statuses, kstatus's names.
const (
	HealthCurrent    = "Current"
	HealthInProgress = "InProgress"
	HealthFailed     = "Failed"
)

// CompileError is a rule that does not compile. Field names the rule
// ("succeeded", "outputs.items"); Message is the compiler's.
type CompileError struct {
	Field   string
	Message string
}

func (e *CompileError) Error() string { return e.Field + ": " + e.Message }

// OutputNameRE is what an output's name must match: an identifier, so it
// can be a variable or a key anywhere the outputs are passed on.
var OutputNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]{0,62}$`)

// OperationSpec is an operation's rules as written: CEL expressions over
// the variable `object`. Succeeded and Failed are bools, Message a string,
// each output any JSON value.
type OperationSpec struct {
	Succeeded string
	Failed    string
	Message   string
	Outputs   map[string]string
}

// IsZero says the spec has no rule: the default contract applies.
func (s OperationSpec) IsZero() bool {
	return s.Succeeded == "" && s.Failed == "" && s.Message == "" && len(s.Outputs) == 0
}

// OperationRules are compiled operation rules; safe for concurrent use.
type OperationRules struct {
	succeeded, failed *program
	message           *program
	outputs           []*program // sorted by name
	// outputMap is the default contract's: every string of the map it
	// evaluates to is an output.
	outputMap *program
}

// Verdict is an operation's object judged.
type Verdict struct {
	State   State          `json:"state"`
	Message string         `json:"message,omitempty"`
	Outputs map[string]any `json:"outputs,omitempty"`
	// Conditions are the object's status.conditions, whatever the rules:
	// they are the custom resource's own report of itself, so their
	// messages are passed on as the resource wrote them.
	Conditions []Condition `json:"conditions,omitempty"`
	// Problems are the rules that could not be evaluated (an output left
	// out, a rule over the cost limit); a missing field is not one for
	// succeeded and failed, which simply do not hold yet.
	Problems []string `json:"problems,omitempty"`
}

// Condition is one entry of status.conditions, as metav1.Condition.
type Condition struct {
	Type               string `json:"type"`
	Status             string `json:"status"`
	Reason             string `json:"reason,omitempty"`
	Message            string `json:"message,omitempty"`
	LastTransitionTime string `json:"last_transition_time,omitempty"`
}

type program struct {
	field, source string
	prg           cel.Program
}

var env = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("object", cel.DynType),
		cel.OptionalTypes(),
		cel.CrossTypeNumericComparisons(true),
		ext.Strings(ext.StringsVersion(2)),
		ext.Bindings(),
		cel.ParserExpressionSizeLimit(MaxExpressionLength),
	)
})

// compile compiles src as the rule field; want is the result type the
// rule must have (nil: any), dyn being accepted and checked at evaluation.
func compile(field, src string, want *cel.Type) (*program, error) {
	e, err := env()
	if err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(src) > MaxExpressionLength {
		return nil, &CompileError{field, fmt.Sprintf("%d characters, over the limit of %d", utf8.RuneCountInString(src), MaxExpressionLength)}
	}
	ast, iss := e.Compile(src)
	if iss.Err() != nil {
		return nil, &CompileError{field, iss.Err().Error()}
	}
	if out := ast.OutputType(); want != nil && !out.IsExactType(want) && !out.IsExactType(cel.DynType) {
		return nil, &CompileError{field, fmt.Sprintf("must evaluate to a %s, not a %s", want, out)}
	}
	prg, err := e.Program(ast, cel.CostLimit(CostLimit))
	if err != nil {
		return nil, &CompileError{field, err.Error()}
	}
	return &program{field: field, source: src, prg: prg}, nil
}

// CompileOperation compiles an operation's rules. Succeeded and Failed go
// together; a spec with no rule at all is the default contract. The error
// is a *CompileError.
func CompileOperation(spec OperationSpec) (*OperationRules, error) {
	if spec.IsZero() {
		return DefaultOperation(), nil
	}
	if spec.Succeeded == "" || spec.Failed == "" {
		field := "succeeded"
		if spec.Succeeded != "" {
			field = "failed"
		}
		return nil, &CompileError{field, "succeeded and failed are both needed once any rule is given (none: the default contract)"}
	}
	if len(spec.Outputs) > MaxOutputs {
		return nil, &CompileError{"outputs", fmt.Sprintf("%d outputs, over the limit of %d", len(spec.Outputs), MaxOutputs)}
	}
	r := &OperationRules{}
	var err error
	if r.succeeded, err = compile("succeeded", spec.Succeeded, cel.BoolType); err != nil {
		return nil, err
	}
	if r.failed, err = compile("failed", spec.Failed, cel.BoolType); err != nil {
		return nil, err
	}
	if spec.Message != "" {
		if r.message, err = compile("message", spec.Message, cel.StringType); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(spec.Outputs))
	for name := range spec.Outputs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !OutputNameRE.MatchString(name) {
			return nil, &CompileError{"outputs", fmt.Sprintf("%q is not an output name (want %s)", name, OutputNameRE)}
		}
		p, err := compile("outputs."+name, spec.Outputs[name], nil)
		if err != nil {
			return nil, err
		}
		r.outputs = append(r.outputs, p)
	}
	return r, nil
}

// The default contract, the vWorkspace Operation's: conditions Succeeded
// and Failed, the message of the one that holds (Failed first), and the
// strings of status.outputs. Written in CEL so it is judged exactly as a
// record's rules are, with the same limits.
const (
	defaultSucceeded = `object.?status.?conditions.orValue([]).exists(c, c.?type.orValue('') == 'Succeeded' && c.?status.orValue('') == 'True')`
	defaultFailed    = `object.?status.?conditions.orValue([]).exists(c, c.?type.orValue('') == 'Failed' && c.?status.orValue('') == 'True')`
	defaultMessage   = `cel.bind(t, object.?status.?conditions.orValue([]).filter(c, c.?status.orValue('') == 'True'),
  cel.bind(f, t.filter(c, c.?type.orValue('') == 'Failed'),
    cel.bind(s, t.filter(c, c.?type.orValue('') == 'Succeeded'),
      f.size() > 0 ? string(f[0].?message.orValue('')) : s.size() > 0 ? string(s[0].?message.orValue('')) : '')))`
	defaultOutputs = `object.?status.?outputs.orValue({})`
)

var defaultOperation = sync.OnceValue(func() *OperationRules {
	must := func(field, src string, want *cel.Type) *program {
		p, err := compile(field, src, want)
		if err != nil {
			panic(err) // a constant: its test fails first
		}
		return p
	}
	return &OperationRules{
		succeeded: must("succeeded", defaultSucceeded, cel.BoolType),
		failed:    must("failed", defaultFailed, cel.BoolType),
		message:   must("message", defaultMessage, cel.StringType),
		outputMap: must("outputs", defaultOutputs, nil),
	}
})

// DefaultOperation is the vWorkspace Operation contract: succeeded when a
// status.conditions entry of type Succeeded has status True, failed when
// one of type Failed has (Failed wins), that condition's message, and the
// string values of status.outputs as outputs.
func DefaultOperation() *OperationRules { return defaultOperation() }

// Evaluate judges obj. It never fails: what cannot be evaluated is left
// out and named in the verdict's Problems.
func (r *OperationRules) Evaluate(obj map[string]any) Verdict {
	v := Verdict{State: Running, Outputs: map[string]any{}, Conditions: conditions(obj)}
	failed := holds(r.failed, obj, &v.Problems)
	succeeded := holds(r.succeeded, obj, &v.Problems)
	switch {
	case failed:
		v.State = Failed
	case succeeded:
		v.State = Succeeded
	}
	if r.message != nil {
		out, err := eval(r.message, obj)
		switch s, ok := out.(types.String); {
		case err != nil:
			if !missing(err) {
				v.Problems = append(v.Problems, "message: "+err.Error())
			}
		case !ok:
			v.Problems = append(v.Problems, fmt.Sprintf("message: evaluated to a %s, not a string", out.Type().TypeName()))
		default:
			v.Message = truncate(string(s), MaxMessageBytes)
		}
	}
	for _, p := range r.outputs {
		name := strings.TrimPrefix(p.field, "outputs.")
		out, err := eval(p, obj)
		if err != nil {
			v.Problems = append(v.Problems, p.field+": "+err.Error())
			continue
		}
		val, err := native(out, 0)
		if err == nil {
			err = fits(val)
		}
		if err != nil {
			v.Problems = append(v.Problems, p.field+": "+err.Error())
			continue
		}
		v.Outputs[name] = val
	}
	if r.outputMap != nil {
		outputMap(r.outputMap, obj, &v)
	}
	return v
}

// outputMap takes the string values of the map p evaluates to as outputs,
// held to the limits of named outputs.
func outputMap(p *program, obj map[string]any, v *Verdict) {
	out, err := eval(p, obj)
	if err != nil {
		v.Problems = append(v.Problems, p.field+": "+err.Error())
		return
	}
	m, ok := out.(traits.Mapper)
	if !ok {
		v.Problems = append(v.Problems, fmt.Sprintf("%s: a %s, not a map", p.field, out.Type().TypeName()))
		return
	}
	strs := map[string]string{}
	for it := m.Iterator(); it.HasNext() == types.True; {
		k := it.Next()
		ks, ok := k.(types.String)
		if !ok {
			continue
		}
		if s, ok := m.Get(k).(types.String); ok {
			strs[string(ks)] = string(s)
		}
	}
	names := make([]string, 0, len(strs))
	for name := range strs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		switch {
		case !OutputNameRE.MatchString(name):
			v.Problems = append(v.Problems, fmt.Sprintf("%s: %q is not an output name", p.field, name))
		case len(v.Outputs) == MaxOutputs:
			v.Problems = append(v.Problems, fmt.Sprintf("%s.%s: over the limit of %d outputs", p.field, name, MaxOutputs))
		default:
			if err := fits(strs[name]); err != nil {
				v.Problems = append(v.Problems, p.field+"."+name+": "+err.Error())
				continue
			}
			v.Outputs[name] = strs[name]
		}
	}
}

// HealthSpec is a kind's health rules as written, CEL bools over
// `object`: Current says the object is ready, Failed (optional) that it
// will not become so.
type HealthSpec struct {
	Current string
	Failed  string
}

// HealthRules are compiled health rules; safe for concurrent use.
type HealthRules struct {
	current, failed *program
}

// CompileHealth compiles a kind's health rules; the error is a *CompileError.
func CompileHealth(spec HealthSpec) (*HealthRules, error) {
	if spec.Current == "" {
		return nil, &CompileError{"current", "a rule is needed"}
	}
	h := &HealthRules{}
	var err error
	if h.current, err = compile("current", spec.Current, cel.BoolType); err != nil {
		return nil, err
	}
	if spec.Failed != "" {
		if h.failed, err = compile("failed", spec.Failed, cel.BoolType); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// Evaluate says whether obj is Current, InProgress or Failed, with a
// message when it is not Current. A rule that cannot be evaluated does not
// hold: the object stays InProgress and the message says why.
func (h *HealthRules) Evaluate(obj map[string]any) (status, message string) {
	var problems []string
	if h.failed != nil && holds(h.failed, obj, &problems) {
		return HealthFailed, "health rule failed holds: " + h.failed.source
	}
	if holds(h.current, obj, &problems) {
		return HealthCurrent, ""
	}
	if len(problems) > 0 {
		return HealthInProgress, strings.Join(problems, "; ")
	}
	return HealthInProgress, "health rule current does not hold yet: " + h.current.source
}

func eval(p *program, obj map[string]any) (ref.Val, error) {
	out, _, err := p.prg.Eval(map[string]any{"object": obj})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// holds evaluates a bool rule: an error is not holding, and a problem
// unless it is a missing field (the controller has not written it yet).
func holds(p *program, obj map[string]any, problems *[]string) bool {
	out, err := eval(p, obj)
	if err != nil {
		if !missing(err) {
			*problems = append(*problems, p.field+": "+err.Error())
		}
		return false
	}
	b, ok := out.(types.Bool)
	if !ok {
		*problems = append(*problems, fmt.Sprintf("%s: evaluated to a %s, not a bool", p.field, out.Type().TypeName()))
		return false
	}
	return bool(b)
}

// missing says err is a field the object does not have. cel-go has no
// typed error for it: its message is what it offers.
func missing(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "no such key") || strings.HasPrefix(s, "no such attribute")
}

// fits says whether an output is at most MaxOutputBytes as JSON.
func fits(val any) error {
	b, err := json.Marshal(val)
	if err != nil {
		return err
	}
	if len(b) > MaxOutputBytes {
		return fmt.Errorf("%d bytes as JSON, over the limit of %d", len(b), MaxOutputBytes)
	}
	return nil
}

const maxDepth = 32

// native turns a CEL value into the JSON value it stands for.
func native(v ref.Val, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("nested too deep")
	}
	switch v := v.(type) {
	case types.Null:
		return nil, nil
	case types.Bool:
		return bool(v), nil
	case types.Int:
		return int64(v), nil
	case types.Uint:
		return uint64(v), nil
	case types.Double:
		if f := float64(v); !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f, nil
		}
		return nil, fmt.Errorf("%v is not a JSON number", float64(v))
	case types.String:
		return string(v), nil
	case types.Bytes:
		return []byte(v), nil // base64 in JSON
	case types.Timestamp:
		return v.Time.UTC().Format(time.RFC3339Nano), nil
	case types.Duration:
		return v.Duration.String(), nil
	case traits.Mapper:
		out := map[string]any{}
		for it := v.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			ks, ok := k.(types.String)
			if !ok {
				return nil, fmt.Errorf("a map key of type %s, not string", k.Type().TypeName())
			}
			val, err := native(v.Get(k), depth+1)
			if err != nil {
				return nil, err
			}
			out[string(ks)] = val
		}
		return out, nil
	case traits.Lister:
		n, _ := v.Size().(types.Int)
		out := make([]any, 0, int(n))
		for i := types.Int(0); i < n; i++ {
			val, err := native(v.Get(i), depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, val)
		}
		return out, nil
	}
	return nil, fmt.Errorf("a %s is not a JSON value", v.Type().TypeName())
}

// conditions copies status.conditions: the fields of each entry that are
// strings, at most MaxConditions entries.
func conditions(obj map[string]any) []Condition {
	status, _ := obj["status"].(map[string]any)
	list, _ := status["conditions"].([]any)
	var out []Condition
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		if len(out) == MaxConditions {
			break
		}
		str := func(k string) string { s, _ := m[k].(string); return truncate(s, MaxMessageBytes) }
		out = append(out, Condition{Type: str("type"), Status: str("status"), Reason: str("reason"),
			Message: str("message"), LastTransitionTime: str("lastTransitionTime")})
	}
	return out
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
