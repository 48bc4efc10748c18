package config

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var cmpEmpty = cmpopts.EquateEmpty()

// Each organization its own callback receiver, parsed from the org=… lists
// as --webhook-secrets is; one unnamed URL and secret still serve a single
// organization.
func TestCallbacks(t *testing.T) {
	const (
		acmeKey   = "whsec_YWNtZS1jYWxsYmFjay1zZWNyZXQtMDEyMzQ1Njc4OQ=="
		globexKey = "whsec_Z2xvYmV4LWNhbGxiYWNrLXNlY3JldC0wMTIzNDU2Nzg="
	)
	creds := func(orgs ...string) []Credential {
		var out []Credential
		for _, o := range orgs {
			out = append(out, Credential{Organization: o, Value: acmeKey})
		}
		return out
	}
	parse := func(t *testing.T, s string) []Credential {
		t.Helper()
		c, err := ParseCredentials(s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name          string
		orgs          []string // organizations of the webhook secrets
		url, secret   string   // --callback-url, --callback-secret
		urls, secrets string   // --callback-urls, --callback-secrets
		want          []Callback
		without       []string // OrganizationsWithoutCallback
		err           string   // substring; empty: valid
	}{
		{name: "off", orgs: []string{"acme", "globex"}},
		{name: "one pair, one organization", orgs: []string{"acme"}, url: "https://odoo.acme/cb", secret: acmeKey,
			want: []Callback{{"acme", "https://odoo.acme/cb", acmeKey}}},
		{name: "one unnamed pair in the lists, one organization", orgs: []string{"acme"}, urls: "https://odoo.acme/cb?token=x=", secrets: acmeKey,
			want: []Callback{{"acme", "https://odoo.acme/cb?token=x=", acmeKey}}},
		{name: "one pair, default organization", orgs: []string{DefaultOrganization}, url: "https://odoo/cb", secret: acmeKey,
			want: []Callback{{DefaultOrganization, "https://odoo/cb", acmeKey}}},
		{name: "one pair, no credentials yet", url: "https://odoo/cb", secret: acmeKey,
			want: []Callback{{DefaultOrganization, "https://odoo/cb", acmeKey}}},
		{name: "one unnamed pair, several organizations", orgs: []string{"acme", "globex"}, url: "https://odoo/cb", secret: acmeKey,
			err: "while pushd serves several (acme, globex)"},
		{name: "each its own", orgs: []string{"acme", "globex"},
			urls: "globex=https://odoo.globex/cb acme=https://odoo.acme/cb", secrets: "acme=" + acmeKey + " globex=" + globexKey,
			want: []Callback{{"acme", "https://odoo.acme/cb", acmeKey}, {"globex", "https://odoo.globex/cb", globexKey}}},
		{name: "one without", orgs: []string{"acme", "globex", "initech"},
			urls: "acme=https://odoo.acme/cb globex=https://odoo.globex/cb", secrets: "acme=" + acmeKey + " globex=" + globexKey,
			want:    []Callback{{"acme", "https://odoo.acme/cb", acmeKey}, {"globex", "https://odoo.globex/cb", globexKey}},
			without: []string{"initech"}},
		{name: "URL without secret", orgs: []string{"acme", "globex"},
			urls: "acme=https://odoo.acme/cb globex=https://odoo.globex/cb", secrets: "acme=" + acmeKey,
			err: `organization "globex" has a callback URL but no callback secret`},
		{name: "secret without URL", orgs: []string{"acme", "globex"},
			urls: "acme=https://odoo.acme/cb", secrets: "acme=" + acmeKey + " globex=" + globexKey,
			err: `organization "globex" has a callback secret but no callback URL`},
		{name: "two URLs", orgs: []string{"acme"}, urls: "acme=https://a/cb acme=https://b/cb", secrets: "acme=" + acmeKey,
			err: "more than one callback URL"},
		{name: "unknown organization", orgs: []string{"acme"},
			urls: "acme=https://odoo.acme/cb acmee=https://odoo.acme/cb2", secrets: "acme=" + acmeKey + " acmee=" + globexKey,
			err: `organization "acmee" has no webhook secret or API token`},
		{name: "not a URL", orgs: []string{"acme"}, urls: "acme=odoo.acme/cb", secrets: "acme=" + acmeKey, err: "absolute http(s) URL"},
		{name: "both forms", orgs: []string{"acme"}, url: "https://odoo.acme/cb", secret: acmeKey, urls: "acme=https://odoo.acme/cb", secrets: "acme=" + acmeKey,
			err: "not both"},
		{name: "URL without secret, single", orgs: []string{"acme"}, url: "https://odoo.acme/cb", err: "no callback secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.WebhookSecrets = creds(tt.orgs...)
			c.CallbackURL, c.CallbackSecret = tt.url, tt.secret
			c.CallbackURLs, c.CallbackSecrets = parse(t, tt.urls), parse(t, tt.secrets)
			before := slices.Clone(c.CallbackURLs)
			got, err := c.Callbacks()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Callbacks = %v, want an error containing %q", err, tt.err)
				}
				if verr := c.Validate(); verr == nil || !strings.Contains(verr.Error(), tt.err) {
					t.Errorf("Validate = %v, want it to report %q", verr, tt.err)
				}
				for _, s := range []string{acmeKey, globexKey, "odoo."} {
					if strings.Contains(err.Error(), s) {
						t.Errorf("error %q quotes a secret or URL", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpEmpty); diff != "" {
				t.Errorf("Callbacks (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.without, c.OrganizationsWithoutCallback(), cmpEmpty); diff != "" {
				t.Errorf("OrganizationsWithoutCallback (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, c.CallbackURLs, cmpEmpty); diff != "" {
				t.Errorf("Callbacks changed the configured list (-before +after):\n%s", diff)
			}
		})
	}
}
