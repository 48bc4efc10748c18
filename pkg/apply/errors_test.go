package apply_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/clusters"
)

// engineFor builds an engine on cfg, for credentials newEnv would not make.
func engineFor(t *testing.T, id string, cfg *rest.Config) (*apply.Engine, error) {
	t.Helper()
	cl, err := clusters.NewClients(id, cfg, clusters.ClientOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return apply.New(cl, apply.Options{})
}

// TestClusterErrors checks the run tells a cluster problem from a bad job,
// and that no error quotes the credential.
func TestClusterErrors(t *testing.T) {
	c := bed.Clusters[0]
	const token = "not-a-token-a1b2c3d4e5f6a7b8c9d0"
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return "https://127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	}()
	tests := []struct {
		name string
		cfg  *rest.Config
		want error
	}{
		{name: "rejected token", cfg: &rest.Config{Host: c.Host, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: c.CAData}}, want: apply.ErrUnauthorized},
		{name: "nothing listening", cfg: &rest.Config{Host: closed, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: c.CAData}}, want: apply.ErrUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng, err := engineFor(t, clusterID, tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = eng.Apply(context.Background(), apply.Request{Namespace: "default", Application: "web", Objects: load(t, "configmap.yaml")})
			t.Logf("error: %v", err)
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), token) {
				t.Errorf("error quotes the token: %v", err)
			}
		})
	}
}

// TestMissingRightsAreForbidden: a credential without a right the run needs
// fails before writing, with ErrForbidden in the chain.
func TestMissingRightsAreForbidden(t *testing.T) {
	ctx := context.Background()
	t.Run("no right on the kind", func(t *testing.T) {
		configMapsOnly := []rbacv1.PolicyRule{scopedRole[0], scopedRole[2]}
		e := newEnvWithRules(t, true, configMapsOnly, apply.Options{})
		res, err := e.engine.Apply(ctx, apply.Request{Namespace: e.ns, Application: "web", Objects: load(t, "app.yaml", "configmap.yaml")})
		t.Logf("error: %v", err)
		var pre *apply.PreflightError
		if !errors.As(err, &pre) || !errors.Is(err, apply.ErrForbidden) {
			t.Fatalf("err = %v, want a forbidden PreflightError", err)
		}
		if got := find(res, "web-config"); got.Action != apply.ActionSkipped {
			t.Errorf("web-config = %+v, want skipped", got)
		}
		if e.exists(t, "configmaps", "web-config") {
			t.Error("ConfigMap written though the preflight failed")
		}
	})
	t.Run("no right to read the namespace", func(t *testing.T) {
		e := newEnvWithRules(t, true, scopedRole[:2], apply.Options{})
		_, err := e.engine.Apply(ctx, apply.Request{Namespace: e.ns, Application: "web", Objects: load(t, "configmap.yaml")})
		t.Logf("error: %v", err)
		if !errors.Is(err, apply.ErrForbidden) {
			t.Fatalf("err = %v, want ErrForbidden", err)
		}
	})
}

func TestNewRefusesInvalidClusterID(t *testing.T) {
	if _, err := engineFor(t, "Not_A_Label", bed.Clusters[0].AdminConfig()); err == nil {
		t.Error("New accepted a cluster id that cannot be a label value")
	}
}

// TestSecretValuesNeverInErrors: the API server quotes a bad value in its
// type errors; for a Secret that value is a credential.
func TestSecretValuesNeverInErrors(t *testing.T) {
	secrets := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list", "watch", "create", "patch", "update", "delete"}}
	e := newEnvWithRules(t, true, append([]rbacv1.PolicyRule{secrets}, scopedRole...), apply.Options{})
	const pin = 98765432
	secret := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata":   map[string]any{"name": "db"},
		"stringData": map[string]any{"pin": int64(pin)},
	}}
	res, err := e.engine.Apply(context.Background(), apply.Request{Namespace: e.ns, Application: "web", Objects: []*unstructured.Unstructured{secret}})
	t.Logf("error: %v", err)
	var pre *apply.PreflightError
	if !errors.As(err, &pre) {
		t.Fatalf("err = %v, want a PreflightError", err)
	}
	leak := strconv.Itoa(pin)
	if strings.Contains(err.Error(), leak) || strings.Contains(pre.Error(), leak) {
		t.Errorf("error quotes the Secret's value: %v", err)
	}
	for _, o := range res.Objects {
		if strings.Contains(o.Message, leak) {
			t.Errorf("result quotes the Secret's value: %+v", o)
		}
	}
}
