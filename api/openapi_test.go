package api_test

import (
	"bytes"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/vworkspace/pushd/api"
)

// load parses and validates the embedded document (examples included: kin-openapi
// checks every example against its schema).
func load(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := doc.Validate(t.Context(), openapi3.EnableMultiError()); err != nil {
		t.Fatalf("validate: %v", err)
	}
	return doc
}

type auth int

const (
	noAuth  auth = iota
	signed       // Standard Webhooks signature
	bearer       // Authorization: Bearer
	metrics      // Authorization: Bearer, the scraper's token
)

// contract lists every operation of the v1 contract with its authentication
// and the status codes openapi.yaml must document for it.
var contract = []struct {
	method, path string
	auth         auth
	statuses     []string
}{
	{http.MethodPut, "/api/v1/clusters/{id}", signed, []string{"200", "201", "400", "401", "403", "404", "409", "413", "422", "429", "503"}},
	{http.MethodGet, "/api/v1/clusters/{id}", bearer, []string{"200", "401", "404", "503"}},
	{http.MethodDelete, "/api/v1/clusters/{id}", signed, []string{"204", "401", "404", "409", "503"}},
	{http.MethodGet, "/api/v1/clusters", bearer, []string{"200", "400", "401", "503"}},
	{http.MethodPut, "/api/v1/clusters/{id}/kubeconfig", signed, []string{"200", "400", "401", "404", "409", "413", "422", "503"}},
	{http.MethodPost, "/api/v1/jobs", signed, []string{"200", "202", "400", "401", "404", "409", "413", "422", "429", "503"}},
	{http.MethodGet, "/api/v1/jobs/{id}", bearer, []string{"200", "401", "404", "503"}},
	{http.MethodGet, "/api/v1/jobs", bearer, []string{"200", "400", "401", "503"}},
	{http.MethodPost, "/api/v1/jobs/{id}/cancel", signed, []string{"200", "202", "401", "404", "409", "503"}},
	{http.MethodGet, "/api/v1/requests/{request_id}", bearer, []string{"200", "401", "404", "503"}},
	{http.MethodPost, "/api/v1/requests/{request_id}/cancel", signed, []string{"200", "202", "401", "404", "409", "503"}},
	{http.MethodGet, "/api/v1/clusters/{id}/applications", bearer, []string{"200", "400", "401", "404", "503"}},
	{http.MethodGet, "/api/v1/clusters/{id}/applications/{namespace}/{application}", bearer, []string{"200", "401", "404", "503"}},
	{http.MethodGet, "/api/v1/clusters/{id}/applications/{namespace}/{application}/history", bearer, []string{"200", "400", "401", "404", "503"}},
	{http.MethodPost, "/api/v1/clusters/{id}/drift-checks", signed, []string{"202", "401", "404", "409", "422", "503"}},
	{http.MethodGet, "/api/v1/callbacks/parked", bearer, []string{"200", "400", "401", "503"}},
	{http.MethodPost, "/api/v1/callbacks/{id}/resend", signed, []string{"202", "401", "404", "409", "503"}},
	{http.MethodGet, "/api/v1/audit", bearer, []string{"200", "400", "401", "503"}},
	{http.MethodGet, "/api/v1/audit/export", bearer, []string{"200", "400", "401", "503"}},
	{http.MethodGet, "/api/v1/openapi.yaml", noAuth, []string{"200"}},
	{http.MethodGet, "/healthz", noAuth, []string{"200"}},
	{http.MethodGet, "/readyz", noAuth, []string{"200", "503"}},
	{http.MethodGet, "/metrics", metrics, []string{"200", "401", "429"}},
}

func TestOperationsOfTheContract(t *testing.T) {
	doc := load(t)

	want := map[string]bool{}
	for _, c := range contract {
		key := c.method + " " + c.path
		want[key] = true
		t.Run(key, func(t *testing.T) {
			item := doc.Paths.Value(c.path)
			if item == nil {
				t.Fatalf("path %s missing", c.path)
			}
			op := item.GetOperation(c.method)
			if op == nil {
				t.Fatalf("%s missing", key)
			}
			if op.OperationID == "" {
				t.Error("no operationId")
			}
			for _, s := range c.statuses {
				if op.Responses.Value(s) == nil {
					t.Errorf("response %s not documented", s)
				}
			}
			checkAuth(t, doc, item, op, c.auth)
			if strings.HasPrefix(c.path, "/api/v1/") {
				checkErrorResponses(t, op)
			}
		})
	}

	// Nothing beyond the contract.
	var extra []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !want[method+" "+path] {
				extra = append(extra, method+" "+path)
			}
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("operations not in the contract: %v", extra)
	}
}

func checkAuth(t *testing.T, doc *openapi3.T, item *openapi3.PathItem, op *openapi3.Operation, a auth) {
	t.Helper()
	if op.Security == nil {
		t.Fatal("security not set on the operation")
	}
	var schemes []string
	for _, req := range *op.Security {
		for name := range req {
			schemes = append(schemes, name)
		}
	}
	headers := map[string]bool{}
	for _, ps := range []openapi3.Parameters{item.Parameters, op.Parameters} {
		for _, p := range ps {
			if p.Value.In == openapi3.ParameterInHeader && p.Value.Required {
				headers[p.Value.Name] = true
			}
		}
	}
	switch a {
	case signed:
		if !slices.Equal(schemes, []string{"standardWebhooks"}) {
			t.Errorf("security %v, want standardWebhooks", schemes)
		}
		for _, h := range []string{"webhook-id", "webhook-timestamp"} {
			if !headers[h] {
				t.Errorf("required header %s missing", h)
			}
		}
		sch := doc.Components.SecuritySchemes["standardWebhooks"].Value
		if sch.Type != "apiKey" || sch.In != "header" || sch.Name != "webhook-signature" {
			t.Errorf("standardWebhooks is %s in %s named %s; want apiKey in header webhook-signature", sch.Type, sch.In, sch.Name)
		}
	case bearer:
		if !slices.Equal(schemes, []string{"bearerAuth"}) {
			t.Errorf("security %v, want bearerAuth", schemes)
		}
		if len(headers) > 0 {
			t.Errorf("read with required headers %v", headers)
		}
		sch := doc.Components.SecuritySchemes["bearerAuth"].Value
		if sch.Type != "http" || sch.Scheme != "bearer" {
			t.Errorf("bearerAuth is %s %s; want http bearer", sch.Type, sch.Scheme)
		}
	case metrics:
		if !slices.Equal(schemes, []string{"metricsToken"}) {
			t.Errorf("security %v, want metricsToken", schemes)
		}
		sch := doc.Components.SecuritySchemes["metricsToken"].Value
		if sch.Type != "http" || sch.Scheme != "bearer" {
			t.Errorf("metricsToken is %s %s; want http bearer", sch.Type, sch.Scheme)
		}
	case noAuth:
		if len(schemes) != 0 {
			t.Errorf("security %v, want none", schemes)
		}
	}
}

// checkErrorResponses: every non-2xx answer is the shared Error body.
func checkErrorResponses(t *testing.T, op *openapi3.Operation) {
	t.Helper()
	for code, resp := range op.Responses.Map() {
		if strings.HasPrefix(code, "2") {
			continue
		}
		mt := resp.Value.Content.Get("application/json")
		if mt == nil || mt.Schema == nil {
			t.Errorf("response %s: no application/json schema", code)
			continue
		}
		s := mt.Schema
		if s.Ref != "#/components/schemas/Error" && (len(s.Value.AllOf) == 0 || s.Value.AllOf[0].Ref != "#/components/schemas/Error") {
			t.Errorf("response %s: schema is not the shared Error", code)
		}
	}
}

func TestEnumsOfTheContract(t *testing.T) {
	doc := load(t)
	for name, want := range map[string][]string{
		"Kstatus":           {"Current", "InProgress", "Failed", "Terminating", "NotFound", "Unknown"},
		"ObjectAction":      {"created", "configured", "unchanged", "pruned", "deleted", "failed", "skipped"},
		"JobStatus":         {"queued", "running", "succeeded", "failed", "cancelled"},
		"JobAction":         {"apply", "delete", "operate", "rollback"},
		"ConnectivityState": {"ready", "unreachable", "unauthorized", "no_credentials"},
		"DriftState":        {"in_sync", "drifted", "unknown"},
		"EventType": {"job.status_changed", "application.health_changed", "drift.detected", "drift.resolved",
			"cluster.connectivity_changed", "credential.expiring", "cluster.deleted", "credential.changed", "cluster.namespace_changed",
			"request.completed"},
	} {
		if got := enum(doc, name); !slices.Equal(got, want) {
			t.Errorf("%s enum %v, want %v", name, got, want)
		}
	}
	// The contract's 422 codes (more rules may add theirs).
	rules := enum(doc, "RuleCode")
	for _, code := range []string{"namespace_not_allowed", "application_not_allowed", "operation_not_allowed", "kind_not_allowed",
		"cluster_scoped_object", "namespace_mismatch", "cluster_id_mismatch", "no_credentials", "kubeconfig_rejected"} {
		if !slices.Contains(rules, code) {
			t.Errorf("422 code %s missing from RuleCode", code)
		}
	}
	if p := doc.Components.Schemas["JobId"].Value.Pattern; p != `^[A-Za-z0-9._:-]{1,128}$` {
		t.Errorf("JobId pattern %q", p)
	}
}

func enum(doc *openapi3.T, schema string) []string {
	var out []string
	for _, v := range doc.Components.Schemas[schema].Value.Enum {
		out = append(out, v.(string))
	}
	return out
}

func TestWebhooksAreTheEventTypes(t *testing.T) {
	doc := load(t)
	var got []string
	for name, item := range doc.Webhooks {
		got = append(got, name)
		if item.Post == nil || item.Post.RequestBody == nil {
			t.Errorf("webhook %s: no POST with a body", name)
			continue
		}
		headers := map[string]bool{}
		for _, p := range item.Post.Parameters {
			if p.Value.In == openapi3.ParameterInHeader && p.Value.Required {
				headers[p.Value.Name] = true
			}
		}
		for _, h := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
			if !headers[h] {
				t.Errorf("webhook %s: required header %s missing", name, h)
			}
		}
	}
	sort.Strings(got)
	want := enum(doc, "EventType")
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("webhooks %v, want the event types %v", got, want)
	}
}

// TestSchemasAcceptAndRefuse checks a few bodies against the schemas, so a
// schema that accepts anything (or nothing) does not go unnoticed.
func TestSchemasAcceptAndRefuse(t *testing.T) {
	doc := load(t)
	schema := func(name string) *openapi3.Schema { return doc.Components.Schemas[name].Value }
	unprocessable := doc.Components.Responses["UnprocessableEntity"].Value.Content.Get("application/json").Schema.Value

	job := map[string]any{
		"id": "job-7d0c2f", "cluster": "cluster-prod-1", "request_id": "fleet-backup-42",
		"operation":   map[string]any{"engine": "manifest", "type": "deploy"},
		"application": "nextcloud", "namespace": "nextcloud", "action": "apply",
		"manifests":       []any{map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "x"}}},
		"timeout_seconds": 300,
	}
	with := func(m map[string]any, k string, v any) map[string]any {
		c := map[string]any{}
		for kk, vv := range m {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	// A manifest is a whole object: fields and metadata beyond those the
	// schema names are part of it.
	wholeConfigMap := map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "x", "labels": map[string]any{"app": "x"}, "annotations": map[string]any{"note": "y"}, "finalizers": []any{"example.org/keep"}},
		"data":     map[string]any{"k": "v"}, "immutable": true}
	errBody := func(code string) map[string]any {
		return map[string]any{"error": map[string]any{"code": code, "message": "m", "details": []any{}}}
	}
	event := func(typ string, data any) map[string]any {
		return map[string]any{"type": typ, "id": "msg_1", "timestamp": "2026-05-04T10:15:30Z",
			"organization": "acme", "cluster": "cluster-prod-1", "data": data}
	}
	connData := map[string]any{"state": "ready", "previous_state": "unreachable", "checked_at": "2026-05-04T10:15:30Z", "message": ""}

	for _, c := range []struct {
		name   string
		schema *openapi3.Schema
		value  any
		ok     bool
	}{
		{"job request", schema("JobRequest"), job, true},
		{"job id with a space", schema("JobRequest"), with(job, "id", "job 1"), false},
		{"job id of 129 chars", schema("JobRequest"), with(job, "id", strings.Repeat("a", 129)), false},
		{"job without cluster", schema("JobRequest"), with(job, "cluster", nil), false},
		{"job with unknown action", schema("JobRequest"), with(job, "action", "patch"), false},
		{"whole object", schema("Manifest"), wholeConfigMap, true},
		{"object without metadata.name", schema("Manifest"), map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{}}, false},
		{"label that is not a string", schema("Manifest"), with(wholeConfigMap, "metadata", map[string]any{"name": "x", "labels": map[string]any{"replicas": 3}}), false},
		{"annotation that is not a string", schema("Manifest"), with(wholeConfigMap, "metadata", map[string]any{"name": "x", "annotations": map[string]any{"on": true}}), false},
		{"422 rule code", unprocessable, errBody("namespace_not_allowed"), true},
		{"422 unknown code", unprocessable, errBody("made_up"), false},
		{"error without details", schema("Error"), map[string]any{"error": map[string]any{"code": "x", "message": "m"}}, false},
		{"connectivity event", schema("Event"), event("cluster.connectivity_changed", connData), true},
		{"connectivity data under another type", schema("Event"), event("credential.expiring", connData), false},
		{"event without cluster", schema("Event"), with(event("cluster.connectivity_changed", connData), "cluster", nil), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.schema.VisitJSON(c.value, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors())
			if c.ok && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !c.ok && err == nil {
				t.Error("accepted")
			}
		})
	}
}

// TestResponsesAreOpen: responses may carry more fields than listed, so no
// schema forbids additional properties.
func TestResponsesAreOpen(t *testing.T) {
	doc := load(t)
	seen := map[*openapi3.Schema]bool{}
	var walk func(where string, s *openapi3.SchemaRef)
	walk = func(where string, s *openapi3.SchemaRef) {
		if s == nil || s.Value == nil || seen[s.Value] {
			return
		}
		v := s.Value
		seen[v] = true
		if v.AdditionalProperties.Has != nil && !*v.AdditionalProperties.Has {
			t.Errorf("%s: additionalProperties: false", where)
		}
		for name, p := range v.Properties {
			walk(where+"."+name, p)
		}
		for i, group := range [][]*openapi3.SchemaRef{v.AllOf, v.AnyOf, v.OneOf} {
			for j, sub := range group {
				walk(where+"/"+[]string{"allOf", "anyOf", "oneOf"}[i]+"/"+string(rune('0'+j)), sub)
			}
		}
		walk(where+"[]", v.Items)
		walk(where+"{}", v.AdditionalProperties.Schema)
	}
	for name, s := range doc.Components.Schemas {
		walk(name, s)
	}
	for name, r := range doc.Components.Responses {
		for mt, m := range r.Value.Content {
			walk(name+" "+mt, m.Schema)
		}
	}
}

// TestValidationChecksExamples guards the other tests' premise: Validate
// checks every example (of paths and of webhooks) against its schema.
func TestValidationChecksExamples(t *testing.T) {
	for _, m := range [][2]string{
		{"        status: queued\n", "        status: waiting\n"},                                     // a path's response example
		{"          mode: report\n          checked_at", "          mode: fix\n          checked_at"}, // a webhook's example
	} {
		if !bytes.Contains(api.OpenAPI, []byte(m[0])) {
			t.Fatalf("%q not in the document", m[0])
		}
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(bytes.Replace(api.OpenAPI, []byte(m[0]), []byte(m[1]), 1))
		if err != nil {
			t.Fatal(err)
		}
		if err := doc.Validate(t.Context()); err == nil {
			t.Errorf("an example with %q passed validation", m[1])
		}
	}
}
