package inventory

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestName(t *testing.T) {
	long := strings.Repeat("a", 300)
	tests := []struct {
		name        string
		application string
		want        string // exact name; empty: only checked for validity and prefix
	}{
		{name: "plain application", application: "nextcloud", want: "pushd-inventory-nextcloud"},
		{name: "dotted subdomain is kept", application: "nextcloud.v2", want: "pushd-inventory-nextcloud.v2"},
		{name: "upper case is cleaned and hashed", application: "NextCloud"},
		{name: "spaces and slashes are cleaned", application: "my app/prod"},
		{name: "too long is cut and hashed", application: long},
		{name: "nothing usable", application: "___"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Key{Cluster: "prod-1", Namespace: "apps", Application: tt.application}.Name()
			if tt.want != "" && got != tt.want {
				t.Errorf("Name() = %q, want %q", got, tt.want)
			}
			if errs := validation.IsDNS1123Subdomain(got); len(errs) > 0 {
				t.Errorf("Name() = %q is not a DNS subdomain: %v", got, errs)
			}
			if !strings.HasPrefix(got, NamePrefix) {
				t.Errorf("Name() = %q lacks prefix %q", got, NamePrefix)
			}
		})
	}
	// Cleaning must not make two applications share a ConfigMap.
	a := Key{Application: "NextCloud"}.Name()
	b := Key{Application: "nextcloud_"}.Name()
	if a == b {
		t.Errorf("%q and %q share the name %q", "NextCloud", "nextcloud_", a)
	}
}

func TestID(t *testing.T) {
	base := Key{Cluster: "prod-1", Namespace: "nextcloud", Application: "nextcloud"}
	// The id is written into every object pushd owns; this pins it so a
	// change to its derivation fails here rather than orphaning objects.
	if got, want := base.ID(), "pushd-"+digest("prod-1\x00nextcloud\x00nextcloud")[:32]; got != want {
		t.Fatalf("ID() = %q, want %q", got, want)
	}
	if got, want := base.ID(), "pushd-ed146083501a110c8fbc07da05beaf14"; got != want {
		t.Errorf("ID() = %q, want the pinned %q", got, want)
	}
	tests := []struct {
		name string
		key  Key
	}{
		{name: "other cluster", key: Key{Cluster: "prod-2", Namespace: "nextcloud", Application: "nextcloud"}},
		{name: "other namespace", key: Key{Cluster: "prod-1", Namespace: "other", Application: "nextcloud"}},
		{name: "other application", key: Key{Cluster: "prod-1", Namespace: "nextcloud", Application: "mattermost"}},
		// Without a separator these two would hash the same string.
		{name: "shifted boundary", key: Key{Cluster: "prod-1n", Namespace: "extcloud", Application: "nextcloud"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.key.ID() == base.ID() {
				t.Errorf("%v shares the id of %v", tt.key, base)
			}
			if errs := validation.IsValidLabelValue(tt.key.ID()); len(errs) > 0 {
				t.Errorf("ID() = %q is not a label value: %v", tt.key.ID(), errs)
			}
		})
	}
}

func TestLabels(t *testing.T) {
	tests := []struct {
		name        string
		application string
		wantApp     string // expected ApplicationLabel value; empty: only validity is checked
	}{
		{name: "plain", application: "nextcloud", wantApp: "nextcloud"},
		{name: "label value with capitals is kept", application: "NextCloud", wantApp: "NextCloud"},
		{name: "too long for a label", application: strings.Repeat("x", 80)},
		{name: "spaces", application: "my app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := Key{Cluster: "prod-1", Namespace: "apps", Application: tt.application}
			got := k.Labels()
			for name, value := range got {
				if errs := validation.IsValidLabelValue(value); len(errs) > 0 {
					t.Errorf("label %s=%q is not valid: %v", name, value, errs)
				}
			}
			if tt.wantApp != "" {
				want := map[string]string{
					IDLabel:          k.ID(),
					ClusterIDLabel:   "prod-1",
					ApplicationLabel: tt.wantApp,
					ManagedByLabel:   "pushd",
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("Labels() (-want +got):\n%s", diff)
				}
			}
			if !Selector("prod-1").Matches(labels.Set(got)) {
				t.Errorf("Selector(prod-1) does not match %v", got)
			}
			if Selector("prod-2").Matches(labels.Set(got)) {
				t.Errorf("Selector(prod-2) matches an inventory of prod-1")
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		key     Key
		wantErr bool
	}{
		{name: "valid", key: Key{Cluster: "prod-1", Namespace: "apps", Application: "anything goes/here"}},
		{name: "cluster not a DNS label", key: Key{Cluster: "Prod_1", Namespace: "apps", Application: "a"}, wantErr: true},
		{name: "namespace empty", key: Key{Cluster: "prod-1", Application: "a"}, wantErr: true},
		{name: "application empty", key: Key{Cluster: "prod-1", Namespace: "apps"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.key.Validate(); (err != nil) != tt.wantErr {
				t.Errorf("Validate() = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}
