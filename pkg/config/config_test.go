package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCredentials(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Credential
		err  string // substring of the error; empty means success
	}{
		{name: "empty", in: "", want: nil},
		{name: "bare value belongs to default", in: "whsec_a", want: []Credential{{"default", "whsec_a"}}},
		{name: "bound and bare", in: " acme=whsec_a  whsec_b ", want: []Credential{{"acme", "whsec_a"}, {"default", "whsec_b"}}},
		{name: "padded secret is not an org binding", in: "whsec_YWJjZA==", want: []Credential{{"default", "whsec_YWJjZA=="}}},
		{name: "bound padded secret", in: "acme=whsec_YWJjZA==", want: []Credential{{"acme", "whsec_YWJjZA=="}}},
		{name: "padded token", in: "dG9rZW4==", want: []Credential{{"default", "dG9rZW4=="}}},
		{name: "token with single padding", in: "dG9rZW4tc2VjcmV0LXZhbHVl=", want: []Credential{{"default", "dG9rZW4tc2VjcmV0LXZhbHVl="}}},
		{name: "empty org", in: "=whsec_a", err: "want [org=]value"},
		{name: "trailing = is padding, not an empty value", in: "acme=", want: []Credential{{"default", "acme="}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCredentials(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestParseCredentialsNeverEchoesSecret(t *testing.T) {
	for _, in := range []string{"=canary", "=whsec_canary", "ok =canary-token"} {
		_, err := ParseCredentials(in)
		if err == nil || strings.Contains(err.Error(), "canary") {
			t.Errorf("ParseCredentials(%q): error %v leaks the field or is missing", in, err)
		}
	}
	_, err := ParseDatabaseURL("postgres://pushd:canaryPw@db:5x32/pushd")
	if err == nil || strings.Contains(err.Error(), "canary") {
		t.Errorf("ParseDatabaseURL: error %v leaks the password or is missing", err)
	}
}

func TestParseDatabaseURL(t *testing.T) {
	tests := []struct {
		in   string
		want Database
		err  bool
	}{
		{in: "sqlite://./data/pushd.db", want: Database{"sqlite", "./data/pushd.db"}},
		{in: "sqlite:///var/lib/pushd.db", want: Database{"sqlite", "/var/lib/pushd.db"}},
		{in: "postgres://u:p@127.0.0.1:5432/pushd?sslmode=disable", want: Database{"postgres", "postgres://u:p@127.0.0.1:5432/pushd?sslmode=disable"}},
		{in: "postgresql://127.0.0.1/pushd", want: Database{"postgres", "postgresql://127.0.0.1/pushd"}},
		{in: "mysql://x", err: true},
		{in: "./pushd.db", err: true},
		{in: "sqlite://", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDatabaseURL(tt.in)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("defaults must validate: %v", err)
	}
	c := Default()
	c.Listen = "nope"
	c.CallbackURL = "https://odoo.example/hook"
	c.LogFormat = "xml"
	err := c.Validate()
	for _, want := range []string{"listen", "callback-secret", "log-format"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to name %q", err, want)
		}
	}
}
