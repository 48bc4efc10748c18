package apply

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// minSecretLen is the shortest Secret value redacted: shorter ones would
// blank out ordinary words of messages while protecting little.
const minSecretLen = 4

// redactor cuts the values of a request's Secrets out of texts the engine
// returns. Server error messages may quote a field's value (a bad type, a
// failed validation), and a Secret's values are credentials (invariant 9
// of docs/architecture.md).
type redactor struct{ r *strings.Replacer }

func newRedactor(objs []*unstructured.Unstructured) redactor {
	values := map[string]bool{}
	add := func(v string) {
		if len(v) >= minSecretLen {
			values[v] = true
		}
	}
	for _, o := range objs {
		if o == nil || o.GetKind() != "Secret" || o.GroupVersionKind().Group != "" {
			continue
		}
		for _, field := range []string{"data", "stringData"} {
			m, _ := o.Object[field].(map[string]any)
			for _, v := range m {
				switch v := v.(type) {
				case string:
					add(v)
					if dec, err := base64.StdEncoding.DecodeString(v); field == "data" && err == nil {
						add(string(dec))
					}
				case nil, map[string]any, []any:
				default:
					// A number or boolean is invalid here, and the
					// server's type error quotes it.
					add(fmt.Sprint(v))
				}
			}
		}
	}
	if len(values) == 0 {
		return redactor{}
	}
	// Longest first: the replacer tries pairs in order, and a value that is
	// a prefix of another must not leave the other's tail behind.
	sorted := slices.SortedFunc(maps.Keys(values), func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	pairs := make([]string, 0, 2*len(sorted))
	for _, v := range sorted {
		pairs = append(pairs, v, "<redacted>")
	}
	return redactor{strings.NewReplacer(pairs...)}
}

func (r redactor) string(s string) string {
	if r.r == nil {
		return s
	}
	return r.r.Replace(s)
}

// error returns err with a redacted message. It still unwraps to err, so
// errors.Is and errors.As see the typed errors inside.
func (r redactor) error(err error) error {
	if err == nil || r.r == nil {
		return err
	}
	msg := r.r.Replace(err.Error())
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Redact returns what cuts the values of objs' Secrets out of a text, as
// the engine does with its own messages: for texts built outside the
// engine from what a run observed (an operation's outputs and conditions).
func Redact(objs []*unstructured.Unstructured) func(string) string { return newRedactor(objs).string }
