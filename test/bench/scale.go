package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"golang.org/x/sync/errgroup"
)

// scale: N cluster records, each with its own ServiceAccount and token,
// registered through the signed API and pointing at the test bed's API
// servers (round robin).
func (b *bench) scale(ctx context.Context) error {
	N := b.opts.scaleClusters
	ns, saNS := "bench-scale", "pushd-scale"
	// Seed: bootstrap once per API server (through the CLI, in a state of
	// its own) to get the Roles pushd's bootstrap creates; every record then
	// gets its own ServiceAccount bound to them and its own token.
	seed, err := newPushd("seed", b.bin, filepath.Join(b.dir, "pushd-seed"), "", nil)
	if err != nil {
		return err
	}
	for i, c := range b.bed.Clusters {
		if err := b.api[i].ensureNamespace(ctx, ns, true); err != nil {
			return err
		}
		id := "scale-seed-" + c.Name
		if _, err := seed.cli(ctx, "clusters", "add", id, "--namespaces", ns); err != nil {
			return err
		}
		if _, err := seed.cli(ctx, "clusters", "bootstrap", "--admin-kubeconfig", c.AdminKubeconfig, "--cluster", id, "--service-account-namespace", saNS); err != nil {
			return err
		}
	}
	p, err := newPushd("scale", b.bin, filepath.Join(b.dir, "pushd-scale"), "", nil)
	if err != nil {
		return err
	}
	if err := p.start(ctx); err != nil {
		return err
	}
	defer p.stop()
	settle := 10 * time.Second
	if b.opts.quick {
		settle = 5 * time.Second
	}
	time.Sleep(settle)
	rss0, g0, err := p.processMetrics(ctx)
	if err != nil {
		return err
	}
	window := b.opts.idleWindow
	b.progress("scale: pushd with no cluster: RSS %.1f MiB, %.0f goroutines; counting API requests for %s", rss0/(1<<20), g0, window)
	base := b.countAll(ctx, window)

	b.progress("scale: registering %d cluster records (own ServiceAccount and token each) through the signed API", N)
	t0 := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range N {
		g.Go(func() error { return b.registerScale(gctx, p, i, ns, saNS) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	b.progress("scale: registered in %.1fs; letting every record be probed", time.Since(t0).Seconds())
	time.Sleep(2 * settle)
	rss1, g1, err := p.processMetrics(ctx)
	if err != nil {
		return err
	}
	b.progress("scale: %d records: RSS %.1f MiB, %.0f goroutines; counting API requests for %s", N, rss1/(1<<20), g1, window)
	idle := b.countAll(ctx, window)
	perMin := (idle - base) / float64(N) / window.Minutes()
	rssPer := (rss1 - rss0) / float64(N)
	scen := fmt.Sprintf("scale: %d idle registered clusters", N)
	b.add(row{Scenario: scen, Figure: "RSS per idle cluster", Value: num(rssPer / (1 << 20)), Unit: "MiB",
		Note: fmt.Sprintf("%.0f → %.0f MiB", rss0/(1<<20), rss1/(1<<20)), Target: "≤ 2 MiB", Met: boolp(rssPer <= 2<<20)})
	b.add(row{Scenario: scen, Figure: "goroutines per idle cluster", Value: num((g1 - g0) / float64(N)), Unit: "",
		Note: fmt.Sprintf("%.0f → %.0f", g0, g1)})
	b.add(row{Scenario: scen, Figure: "API requests per minute per idle cluster", Value: num(perMin), Unit: "req/min",
		Note: fmt.Sprintf("apiserver_request_total over %s, minus the same window with no record", window), Target: "≤ 10", Met: boolp(perMin <= 10)})

	// One fleet request: a one-object job for every record under one request_id.
	b.progress("scale: one fleet request: a job on each of the %d clusters", N)
	var jobs []jobSpec
	for i := range N {
		id := fmt.Sprintf("scale-%d", i)
		jobs = append(jobs, newJob(id+"-fleet", id, ns, id, configMaps(ns, id, 1, "v1")))
	}
	start, views, err := b.runJobs(ctx, p, jobs, 10*time.Minute)
	if err != nil {
		return err
	}
	fd := lastFinished(views).Sub(start)
	b.progress("scale: fleet request done in %.2fs", fd.Seconds())
	b.add(row{Scenario: scen, Figure: "one fleet request (a 1-object job per cluster, one request_id): first POST → all succeeded", Value: num(secs(fd)), Unit: "s"})
	return nil
}

// countAll counts the requests every API server serves over a window.
func (b *bench) countAll(ctx context.Context, window time.Duration) float64 {
	var cs []counter
	for _, a := range b.api {
		cs = append(cs, a.begin(ctx))
	}
	select {
	case <-ctx.Done():
	case <-time.After(window):
	}
	total := 0.0
	for _, c := range cs {
		total += c.end(ctx)
	}
	return total
}

// registerScale gives record i its own ServiceAccount (bound to the seed's
// bootstrap Roles, plus a Role to renew its own token), a 24 h token, and
// registers it: PUT /api/v1/clusters/{id}, PUT …/kubeconfig.
func (b *bench) registerScale(ctx context.Context, p *pushd, i int, ns, saNS string) error {
	k := i % len(b.bed.Clusters)
	c, api := b.bed.Clusters[k], b.api[k]
	seedID := "scale-seed-" + c.Name
	sa := fmt.Sprintf("pushd-scale-%d", i)
	kube := api.kube
	if _, err := kube.CoreV1().ServiceAccounts(saNS).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	subject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: saNS}}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: sa}, Subjects: subject,
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "pushd-" + seedID}}
	if _, err := kube.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: sa + "-namespaces"}, Subjects: subject,
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "pushd-" + seedID + "-namespaces"}}
	if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	// Its own right to renew its token, as bootstrap grants pushd's.
	tokenRole := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: sa + "-token"}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{""}, Resources: []string{"serviceaccounts/token"}, ResourceNames: []string{sa}, Verbs: []string{"create"}}}}
	if _, err := kube.RbacV1().Roles(saNS).Create(ctx, tokenRole, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	trb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: sa + "-token"}, Subjects: subject,
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: sa + "-token"}}
	if _, err := kube.RbacV1().RoleBindings(saNS).Create(ctx, trb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	ttl := int64(24 * 3600)
	tr, err := kube.CoreV1().ServiceAccounts(saNS).CreateToken(ctx, sa, &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &ttl}}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.CAData}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "c"
	kc, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	id := fmt.Sprintf("scale-%d", i)
	rec, _ := json.Marshal(map[string]any{
		"allowed_namespaces": []string{ns}, "allowed_applications": []string{id},
		"allowed_operations": []map[string]string{{"engine": "manifest", "type": "deploy"}},
	})
	if _, err := p.write(ctx, http.MethodPut, "/api/v1/clusters/"+id, rec, nil); err != nil {
		return err
	}
	_, err = p.write(ctx, http.MethodPut, "/api/v1/clusters/"+id+"/kubeconfig", kc, nil)
	return err
}
