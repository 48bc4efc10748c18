package apply

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestRedactor(t *testing.T) {
	secret := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": "db"},
		"data": map[string]any{
			"password": "c3VwZXJzZWNyZXQ=", // "supersecret"
			"pin":      int64(98765432),
			"short":    "YQ==", // "a": too short to redact, unlike its encoding
		},
		"stringData": map[string]any{"token": "tok-123456"},
	}}
	// A ConfigMap's values are not secrets: they stay readable.
	configMap := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "cfg"},
		"data":     map[string]any{"mode": "production"},
	}}
	r := newRedactor([]*unstructured.Unstructured{secret, configMap})
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "encoded value", in: `data.password: "c3VwZXJzZWNyZXQ=" invalid`, want: `data.password: "<redacted>" invalid`},
		{name: "decoded value", in: "value supersecret refused", want: "value <redacted> refused"},
		{name: "number quoted by a type error", in: "expected string, got &value.valueUnstructured{Value:98765432}", want: "expected string, got &value.valueUnstructured{Value:<redacted>}"},
		{name: "stringData", in: "token tok-123456", want: "token <redacted>"},
		{name: "configmap value kept", in: "mode production", want: "mode production"},
		{name: "short decoded value kept, its encoding not", in: "a YQ==", want: "a <redacted>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.string(tt.in); got != tt.want {
				t.Errorf("string(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}

	inner := &ObjectError{Object: ObjectRef{Kind: "Secret", Name: "db"}, Verb: "apply", Err: errors.New("bad supersecret")}
	err := r.error(inner)
	if strings.Contains(err.Error(), "supersecret") {
		t.Errorf("error %q leaks the value", err)
	}
	var oe *ObjectError
	if !errors.As(err, &oe) {
		t.Error("redacted error no longer unwraps to the ObjectError")
	}
	if r := newRedactor(nil); r.error(inner) != inner {
		t.Error("a request without Secrets must return errors unchanged")
	}
}
