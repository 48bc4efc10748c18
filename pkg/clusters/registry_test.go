package clusters_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/health"
)

// TestCredentialFileRotation replaces a cluster's kubeconfig on disk, as an
// operator rotating a credential would: the next use picks the new one up
// without a restart, and a file that breaks the rules is refused on load
// without anything in it being run.
func TestCredentialFileRotation(t *testing.T) {
	ctx := context.Background()
	c := bed.Clusters()[0]
	dir := t.TempDir()
	f := fleettest.AdminFleet(t, dbtest.Database{Driver: "sqlite", DSN: filepath.Join(dir, "pushd.db")}, bed.Clusters()...)
	rec, err := f.Registry.Get(ctx, "", c.Name)
	if err != nil {
		t.Fatal(err)
	}
	whoami := func() string {
		t.Helper()
		cl, err := f.Registry.Clients(c.Name)
		if err != nil {
			t.Fatal(err)
		}
		st := health.Probe(ctx, cl, rec, nil, time.Now())
		return st.Credential.Subject
	}
	if got := whoami(); got != "testbed-admin" {
		t.Fatalf("before rotation: %q", got)
	}
	first, _ := f.Registry.Clients(c.Name)

	// Mint a ServiceAccount token and drop a kubeconfig file in by hand.
	admin := fleettest.AdminClient(t, c)
	ns := fleettest.Namespace(t, c, true)
	if _, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "rotated"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "rotated", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	write := func(user *clientcmdapi.AuthInfo) {
		t.Helper()
		cfg := clientcmdapi.NewConfig()
		cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.CAData}
		cfg.AuthInfos["u"] = user
		cfg.Contexts["x"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
		b, err := clientcmd.Write(*cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(f.Creds.Dir(), c.Name+".kubeconfig"), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(&clientcmdapi.AuthInfo{Token: tr.Status.Token})
	if got := whoami(); got != "system:serviceaccount:"+ns+":rotated" {
		t.Fatalf("after rotation: %q", got)
	}
	if second, _ := f.Registry.Clients(c.Name); second == first {
		t.Fatal("clients were not rebuilt for the new credential")
	}

	marker := filepath.Join(dir, "exec-ran")
	write(&clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{Command: "touch", Args: []string{marker}, APIVersion: "client.authentication.k8s.io/v1", InteractiveMode: "Never"}})
	var ke *clusters.KubeconfigError
	if _, err := f.Registry.Clients(c.Name); !errors.As(err, &ke) {
		t.Fatalf("a dropped-in exec kubeconfig: err = %v, want a KubeconfigError", err)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatal("the exec command of a dropped-in kubeconfig ran")
	}
}

// TestClientsDoNotRereadAnUnchangedCredential: while the credential file is
// the same file with the same size and modification time, Clients answers
// the clients it built without reading the file again — here the file was
// overwritten in place with garbage of the same size and its time put back,
// which a read would refuse.
func TestClientsDoNotRereadAnUnchangedCredential(t *testing.T) {
	c := bed.Clusters()[0]
	f := fleettest.AdminFleet(t, dbtest.Database{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "pushd.db")}, bed.Clusters()...)
	path := filepath.Join(f.Creds.Dir(), c.Name+".kubeconfig")
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	first, err := f.Registry.Clients(c.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	garbage := make([]byte, info.Size())
	for i := range garbage {
		garbage[i] = '#'
	}
	file, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := file.WriteAt(garbage, 0); err != nil {
		t.Fatal(err)
	}
	file.Close()
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	if again, err := f.Registry.Clients(c.Name); err != nil || again != first {
		t.Fatalf("unchanged file: clients %p (first %p), err %v", again, first, err)
	}
	// A new modification time makes Clients read the file again.
	if err := os.Chtimes(path, time.Now(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Registry.Clients(c.Name); err == nil {
		t.Fatal("a changed file was not read again")
	}
}
