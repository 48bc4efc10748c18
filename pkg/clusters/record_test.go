package clusters_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/outcome"
)

var veleroBackup = clusters.Operation{
	Engine: "velero", Type: "backup",
	Succeeded: `object.status.phase == 'Completed'`,
	Failed:    `object.status.phase in ['PartiallyFailed', 'Failed']`,
	Message:   `object.status.phase`,
	Outputs:   map[string]string{"name": "object.metadata.name", "items": "object.status.progress.itemsBackedUp"},
	// TTLSecondsAfterFinished 0: deleted at once, which nil would not be.
	TTLSecondsAfterFinished: new(0),
}

var cnpgHealth = clusters.HealthRule{Group: "postgresql.cnpg.io", Kind: "Cluster",
	Current: `object.?status.?readyInstances.orValue(0) == object.spec.instances`,
	Failed:  `object.?status.?phase.orValue('') == 'Failed'`}

func TestNormalizeRules(t *testing.T) {
	rec := clusters.Record{ID: "c1", AllowedOperations: []clusters.Operation{{Engine: "manifest", Type: "deploy"}, veleroBackup},
		Health: []clusters.HealthRule{cnpgHealth}}
	if err := rec.Normalize(); err != nil {
		t.Fatal(err)
	}
	deploy, ok := rec.AllowedOperation("manifest", "deploy")
	if !ok || deploy.MaxDurationSeconds != 3600 || deploy.TTLSecondsAfterFinished == nil || *deploy.TTLSecondsAfterFinished != 86400 {
		t.Fatalf("defaults: %+v %v", deploy, ok)
	}
	if r, err := deploy.Rules(); err != nil || r != outcome.DefaultOperation() {
		t.Errorf("an operation without rules: %v %v, want the default contract", r, err)
	}
	backup, _ := rec.AllowedOperation("velero", "backup")
	if *backup.TTLSecondsAfterFinished != 0 || backup.TTLAfterFinished() != 0 || backup.MaxDuration().Hours() != 1 {
		t.Errorf("durations: %+v", backup)
	}
	r1, err := backup.Rules()
	if r2, _ := backup.Rules(); err != nil || r1 != r2 {
		t.Errorf("rules compiled at each call (%p, %p, %v), want once by Normalize", r1, r2, err)
	}
	if _, ok := rec.AllowedOperation("velero", "restore"); ok {
		t.Error("velero/restore allowed")
	}

	for _, tc := range []struct {
		name   string
		rec    clusters.Record
		status int // 400: *ValidationError, 422: *RuleError
		field  string
		inMsg  string
	}{
		{"output does not compile", clusters.Record{AllowedOperations: []clusters.Operation{{Engine: "manifest", Type: "deploy"},
			{Engine: "velero", Type: "backup", Succeeded: "true", Failed: "false", Outputs: map[string]string{"items": "object.status.("}}}},
			422, "allowed_operations[1].outputs.items", "allowed_operations[1].outputs.items: ERROR: <input>:1:15: Syntax error"},
		{"succeeded without failed", clusters.Record{AllowedOperations: []clusters.Operation{{Engine: "velero", Type: "backup", Succeeded: "true"}}},
			422, "allowed_operations[0].failed", "both needed"},
		{"not a bool", clusters.Record{AllowedOperations: []clusters.Operation{{Engine: "velero", Type: "backup", Succeeded: "1", Failed: "false"}}},
			422, "allowed_operations[0].succeeded", "must evaluate to a bool"},
		{"a week and a second", clusters.Record{AllowedOperations: []clusters.Operation{{Engine: "velero", Type: "backup", MaxDurationSeconds: 604801}}},
			400, "allowed_operations[0].max_duration_seconds", "want 1 to 604800"},
		{"negative duration", clusters.Record{AllowedOperations: []clusters.Operation{{Engine: "velero", Type: "backup", MaxDurationSeconds: -1}}},
			400, "allowed_operations[0].max_duration_seconds", "want 1 to 604800"},
		{"ttl over 30 days", clusters.Record{AllowedOperations: []clusters.Operation{{Engine: "velero", Type: "backup", TTLSecondsAfterFinished: new(2592001)}}},
			400, "allowed_operations[0].ttl_seconds_after_finished", "want 0 to 2592000"},
		{"operation twice", clusters.Record{AllowedOperations: []clusters.Operation{veleroBackup, {Engine: "velero", Type: "backup"}}},
			400, "allowed_operations[1]", "listed twice"},
		{"health without kind", clusters.Record{Health: []clusters.HealthRule{{Current: "true"}}}, 400, "health[0].kind", "needs a kind"},
		{"health twice", clusters.Record{Health: []clusters.HealthRule{cnpgHealth, cnpgHealth}}, 400, "health[1]", "a second rule"},
		{"health of a Secret", clusters.Record{Health: []clusters.HealthRule{{Kind: "Secret", Current: "has(object.data)"}}},
			422, "health[0].kind", "no health rule may read a Secret"},
		{"health without current", clusters.Record{Health: []clusters.HealthRule{{Kind: "Widget", Failed: "true"}}},
			422, "health[0].current", "a rule is needed"},
		{"health does not compile", clusters.Record{Health: []clusters.HealthRule{{Kind: "Widget", Current: "objekt.ready"}}},
			422, "health[0].current", "undeclared reference to 'objekt'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.rec.ID = "c1"
			err := tc.rec.Normalize()
			var ve *clusters.ValidationError
			var re *clusters.RuleError
			switch {
			case tc.status == 400 && errors.As(err, &ve):
				if ve.Field != tc.field || !strings.Contains(ve.Reason, tc.inMsg) {
					t.Errorf("%s: %s, want %s: …%s…", ve.Field, ve.Reason, tc.field, tc.inMsg)
				}
			case tc.status == 422 && errors.As(err, &re):
				if re.Code != clusters.RuleInvalid || re.Field != tc.field || !strings.Contains(re.Reason, tc.inMsg) {
					t.Errorf("%s %s: %s, want %s %s: …%s…", re.Code, re.Field, re.Reason, clusters.RuleInvalid, tc.field, tc.inMsg)
				}
			default:
				t.Errorf("error %v (%T), want a %d", err, err, tc.status)
			}
		})
	}
	// A Secret of another group is not the core Secret.
	other := clusters.Record{ID: "c1", Health: []clusters.HealthRule{{Group: "example.com", Kind: "Secret", Current: "true"}}}
	if err := other.Normalize(); err != nil {
		t.Errorf("example.com/Secret: %v", err)
	}
}

// TestRecordRulesRoundTrip: an operation's rules and the health rules come
// back from the store as they went in, compiled, and an operation stored
// without durations (as before they existed) reads back with the defaults.
func TestRecordRulesRoundTrip(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		ctx := context.Background()
		f := fleettest.New(t, db, fleettest.Options{})
		in := clusters.Record{ID: "rules-" + fleettest.RandomID(), AllowedOperations: []clusters.Operation{veleroBackup},
			Health: []clusters.HealthRule{cnpgHealth}}
		if _, _, err := f.Registry.Put(ctx, fleettest.Org, in); err != nil {
			t.Fatal(err)
		}
		got, err := f.Registry.Get(ctx, fleettest.Org, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := veleroBackup
		want.MaxDurationSeconds = 3600
		if diff := cmp.Diff(asJSON(t, []clusters.Operation{want}), asJSON(t, got.AllowedOperations)); diff != "" {
			t.Errorf("operations (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(asJSON(t, in.Health), asJSON(t, got.Health)); diff != "" {
			t.Errorf("health (-want +got):\n%s", diff)
		}
		op, _ := got.AllowedOperation("velero", "backup")
		r1, err := op.Rules()
		if r2, _ := op.Rules(); err != nil || r1 != r2 {
			t.Fatalf("loaded rules not compiled once (%p, %p, %v)", r1, r2, err)
		}
		v := r1.Evaluate(map[string]any{"metadata": map[string]any{"name": "b1"},
			"status": map[string]any{"phase": "Completed", "progress": map[string]any{"itemsBackedUp": int64(7)}}})
		if v.State != outcome.Succeeded || v.Message != "Completed" || v.Outputs["items"] != int64(7) || v.Outputs["name"] != "b1" {
			t.Errorf("verdict %+v", v)
		}
		h, ok := got.HealthRuleFor("postgresql.cnpg.io", "Cluster")
		hr, err := h.Rules()
		if !ok || err != nil {
			t.Fatalf("health rule %v %v", ok, err)
		}
		if st, _ := hr.Evaluate(map[string]any{"spec": map[string]any{"instances": int64(3)}, "status": map[string]any{"readyInstances": int64(3)}}); st != outcome.HealthCurrent {
			t.Errorf("health %s", st)
		}

		// A row written before operations had durations and records health.
		row, err := f.Store.GetCluster(ctx, fleettest.Org, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		row.AllowedOperations, row.Health = `[{"engine":"manifest","type":"deploy"}]`, ""
		if _, err := f.Store.PutCluster(ctx, row); err != nil {
			t.Fatal(err)
		}
		old, err := f.Registry.Get(ctx, fleettest.Org, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		want = clusters.Operation{Engine: "manifest", Type: "deploy", MaxDurationSeconds: 3600, TTLSecondsAfterFinished: new(86400)}
		if diff := cmp.Diff(asJSON(t, []clusters.Operation{want}), asJSON(t, old.AllowedOperations)); diff != "" || old.Health == nil {
			t.Errorf("an older row (-want +got):\n%s, health %#v", diff, old.Health)
		}
	})
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
