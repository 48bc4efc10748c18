package config

import (
	"bytes"
	"encoding/base64"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// Plain HTTP is only served where no one else can listen, unless asked for.
func TestValidateRefusesPlainHTTPOffLoopback(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		err    string // substring; empty: valid
	}{
		{name: "loopback v4", change: func(c *Config) { c.Listen = "127.0.0.1:8080" }},
		{name: "loopback v6", change: func(c *Config) { c.Listen = "[::1]:8080" }},
		{name: "localhost", change: func(c *Config) { c.Listen = "localhost:8080" }},
		{name: "every address", change: func(c *Config) { c.Listen = "0.0.0.0:8080" }, err: "--tls-cert-file"},
		{name: "empty host", change: func(c *Config) { c.Listen = ":8080" }, err: "--insecure-http"},
		{name: "a LAN address", change: func(c *Config) { c.Listen = "10.1.2.3:8080" }, err: "non-loopback"},
		{name: "a host name", change: func(c *Config) { c.Listen = "pushd.internal:8080" }, err: "non-loopback"},
		{name: "TLS", change: func(c *Config) { c.Listen, c.TLSCertFile, c.TLSKeyFile = "0.0.0.0:8443", "tls.crt", "tls.key" }},
		{name: "trusted proxy", change: func(c *Config) {
			c.Listen, c.TrustedProxies = "0.0.0.0:8080", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		}},
		{name: "explicitly insecure", change: func(c *Config) { c.Listen, c.InsecureHTTP = "0.0.0.0:8080", true }},
		{name: "half a key pair", change: func(c *Config) { c.TLSCertFile = "tls.crt" }, err: "set both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.change(&c)
			err := c.Validate()
			if tt.err == "" && err != nil {
				t.Fatalf("Validate = %v, want nil", err)
			}
			if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("Validate = %v, want it to contain %q", err, tt.err)
			}
		})
	}
}

// Keys and tokens shorter than 128 bits are refused, and the message never
// quotes them.
func TestValidateRefusesWeakCredentials(t *testing.T) {
	c := Default()
	c.WebhookSecrets = []Credential{{"acme", "whsec_Y2FuYXJ5"}} // 6 bytes
	c.APITokens = []Credential{{"acme", "canary"}}
	c.CallbackURL, c.CallbackSecret = "https://odoo.example/hook", "whsec_Y2FuYXJ5"
	err := c.Validate()
	for _, want := range []string{"webhook-secrets", "api-tokens", "callback-secret", "128 bits"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to name %q", err, want)
		}
	}
	if err != nil && (strings.Contains(err.Error(), "canary") || strings.Contains(err.Error(), "Y2FuYXJ5")) {
		t.Errorf("err %v quotes a secret", err)
	}
	c = Default()
	c.WebhookSecrets = []Credential{{"acme", "whsec_MDEyMzQ1Njc4OWFiY2RlZg=="}} // 16 bytes
	c.APITokens = []Credential{{"acme", "0f3a9c81d2e47b65a0c3e9f1d8b27a46"}}    // openssl rand -hex 16
	if err := c.Validate(); err != nil {
		t.Errorf("128-bit credentials refused: %v", err)
	}
}

// A long token of few symbols (a placeholder, a repeated word) is refused
// at start: the failure limit lets a valid token through from a flooded
// address, which is safe only if a token cannot be guessed.
func TestValidateRefusesPlaceholderTokens(t *testing.T) {
	for _, tok := range []string{strings.Repeat("a", 40), strings.Repeat("changeme", 5), strings.Repeat("0123", 10)} {
		c := Default()
		c.APITokens = []Credential{{"acme", tok}}
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "api-tokens") || strings.Contains(err.Error(), tok[:8]) {
			t.Errorf("token of %d characters, %q repeated: err = %v, want a refusal naming api-tokens and not the token", len(tok), tok[:8], err)
		}
	}
}

func TestParseCIDRs(t *testing.T) {
	got, err := ParseCIDRs("10.0.0.0/8, 192.168.1.7,fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("fd00::/8")}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if _, err := ParseCIDRs("10.0.0.0/33"); err == nil {
		t.Error("bad CIDR accepted")
	}
}

// TestManifestKeyring reads keys from the setting or from a file, refuses
// both at once, and never echoes a key in an error.
func TestManifestKeyring(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
	c := Default()
	c.ManifestKeys = "k2=" + b64 + " k1=" + b64
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if k, err := c.ManifestKeyring(); err != nil || k.Current() != "k2" {
		t.Fatalf("%v %v", k, err)
	}
	file := filepath.Join(t.TempDir(), "keys")
	os.WriteFile(file, []byte("kf="+b64+"\n"), 0o600)
	c.ManifestKeyFile = file
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Fatalf("both set: %v", err)
	}
	c.ManifestKeys = ""
	if k, err := c.ManifestKeyring(); err != nil || k.Current() != "kf" {
		t.Fatalf("from the file: %v %v", k, err)
	}
	c.ManifestKeyFile, c.ManifestKeys = "", "k="+b64[:30]
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), b64[:30]) {
		t.Fatalf("a short key: %v", err)
	}
	c.ManifestKeys, c.JobRetention = "", time.Minute
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "job-retention") {
		t.Fatalf("a retention of a minute: %v", err)
	}
}

// The metrics token is a credential of its own, as strong as an API token
// and none of them: an organization's token must not open every
// organization's metrics.
func TestValidateMetricsToken(t *testing.T) {
	c := Default()
	c.APITokens = []Credential{{"acme", "0f3a9c81d2e47b65a0c3e9f1d8b27a46"}}
	for tok, want := range map[string]string{"short-one": "shorter than", strings.Repeat("ab", 20): "distinct", "0f3a9c81d2e47b65a0c3e9f1d8b27a46": `organization "acme"`} {
		c.MetricsToken = tok
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "metrics-token") || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), tok) {
			t.Errorf("metrics token %.6s…: err = %v, want metrics-token and %q, never the token", tok, err, want)
		}
	}
	c.MetricsToken = "7c1e0b9a54f2d36e8a1b0c7d9e2f4a65"
	if err := c.Validate(); err != nil {
		t.Errorf("a metrics token of its own: %v", err)
	}
	for addr, want := range map[string]string{"9090": "missing port", c.Listen: "address of their own"} {
		c.MetricsListen = addr
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "metrics-listen") || !strings.Contains(err.Error(), want) {
			t.Errorf("metrics-listen %q: err = %v, want %q", addr, err, want)
		}
	}
	c.MetricsListen = ":9090" // a pod port: plain HTTP, no credential crosses it
	if err := c.Validate(); err != nil {
		t.Errorf("metrics on a pod port: %v", err)
	}
}
