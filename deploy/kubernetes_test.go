package deploy

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/vworkspace/pushd/internal/testbed"
)

// TestKubernetesManifests server-side dry-runs deploy/kubernetes against a
// real API server (admission, schema and defaulting all run; nothing is
// stored) and checks what the Deployment must say: two replicas, the
// image's non-root user, pushd's own variables, the Secrets it documents.
func TestKubernetesManifests(t *testing.T) {
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	var dep *appsv1.Deployment
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), "kind: Deployment") {
			dep = new(appsv1.Deployment)
			if err := yaml.UnmarshalStrict(data, dep); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
		}
		if strings.Contains(string(data), "kind: Secret\n") {
			t.Errorf("%s: holds a Secret; secret values never go into the repository", f)
		}
	}
	if dep == nil {
		t.Fatal("no Deployment")
	}
	checkDeployment(t, dep)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute) // the first run builds the test bed
	defer cancel()
	bed, err := testbed.Start(ctx, testbed.Options{Clusters: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer bed.Stop()
	kubectl := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", bed.Clusters[0].AdminKubeconfig}, args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	if out, err := kubectl("create", "namespace", "pushd"); err != nil {
		t.Fatalf("create namespace: %v\n%s", err, out)
	}
	out, err := kubectl("-n", "pushd", "apply", "--dry-run=server", "-f", "kubernetes/")
	if err != nil {
		t.Fatalf("kubectl apply --dry-run=server: %v\n%s", err, out)
	}
	for _, want := range []string{"deployment.apps/pushd", "service/pushd", "persistentvolumeclaim/pushd-kubeconfigs"} {
		if !strings.Contains(out, want+" created (server dry run)") {
			t.Errorf("dry run did not create %s:\n%s", want, out)
		}
	}
	// Nothing was stored.
	if out, _ := kubectl("-n", "pushd", "get", "deployments", "-o", "name"); strings.TrimSpace(out) != "" {
		t.Errorf("a dry run stored %s", out)
	}
}

func checkDeployment(t *testing.T, dep *appsv1.Deployment) {
	t.Helper()
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2", dep.Spec.Replicas)
	}
	pod := dep.Spec.Template.Spec
	if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot ||
		sc.RunAsUser == nil || *sc.RunAsUser != 65532 || sc.FSGroup == nil || *sc.FSGroup != 65532 {
		t.Errorf("pod securityContext %+v: want non-root 65532 with fsGroup 65532 (the image's USER)", sc)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	known := knownVariables(t)
	secretRefs := map[string]string{}
	for _, e := range c.Env {
		if !known[e.Name] {
			t.Errorf("env %s is not a variable pushd reads", e.Name)
		}
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			secretRefs[e.Name] = e.ValueFrom.SecretKeyRef.Name
		} else if strings.Contains(e.Name, "SECRET") || strings.Contains(e.Name, "TOKEN") || e.Name == "PUSHD_DATABASE_URL" {
			t.Errorf("env %s: a secret must come from a Secret (secretKeyRef)", e.Name)
		}
	}
	for _, v := range []string{"PUSHD_DATABASE_URL", "PUSHD_WEBHOOK_SECRETS", "PUSHD_API_TOKENS", "PUSHD_CALLBACK_SECRET", "PUSHD_METRICS_TOKEN"} {
		if secretRefs[v] == "" {
			t.Errorf("env %s: no secretKeyRef", v)
		}
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	if m, ok := mounts["/tls"]; !ok || volumes[m.Name].Secret == nil {
		t.Error("/tls: want a TLS Secret mounted (the image serves HTTPS from it)")
	}
	if m, ok := mounts["/kubeconfigs"]; !ok || volumes[m.Name].PersistentVolumeClaim == nil {
		t.Error("/kubeconfigs: want a PersistentVolumeClaim every replica shares")
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Error("readiness probe: want GET /readyz")
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Error("liveness probe: want GET /healthz")
	}
}
