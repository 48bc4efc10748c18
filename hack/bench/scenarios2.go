package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"golang.org/x/sync/errgroup"

	"github.com/vworkspace/pushd/internal/testbed"
)

type appView struct {
	Namespace   string     `json:"namespace"`
	Application string     `json:"application"`
	Objects     int        `json:"objects"`
	Drift       string     `json:"drift"`
	CheckedAt   *time.Time `json:"checked_at"`
}

func (p *pushd) applications(ctx context.Context, cluster string) ([]appView, error) {
	var out []appView
	cursor := ""
	for {
		var page struct {
			Items      []appView `json:"items"`
			NextCursor *string   `json:"next_cursor"`
		}
		path := "/api/v1/clusters/" + cluster + "/applications?limit=100"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		if _, err := p.read(ctx, path, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if page.NextCursor == nil || *page.NextCursor == "" {
			return out, nil
		}
		cursor = *page.NextCursor
	}
}

// drift: an on-demand drift check of a cluster holding D objects in sync
// (POST /api/v1/clusters/{id}/drift-checks, then every application's
// checked_at passes the answer's requested_at).
func (b *bench) drift(ctx context.Context) error {
	k := len(b.bed.Clusters) - 1
	c, api := b.bed.Clusters[k], b.api[k]
	D := b.opts.driftObjects
	per := (D + driftApps - 1) / driftApps
	var jobs []jobSpec
	for i := range driftApps {
		app := fmt.Sprintf("drift-%d", i)
		jobs = append(jobs, newJob(app+"-"+testbed.RandomHex(4), c.Name, "bench-drift", app, configMaps("bench-drift", app, per, "v1")))
	}
	b.progress("drift: applying %d objects in %d applications on %s", per*driftApps, driftApps, c.Name)
	if _, _, err := b.runJobs(ctx, b.main, jobs, 10*time.Minute); err != nil {
		return err
	}
	// What one listing of the applications costs the API server, to take it
	// out of the drift check's count (the benchmark polls that listing).
	cnt := api.begin(ctx)
	apps, err := b.main.applications(ctx, c.Name)
	if err != nil {
		return err
	}
	listCost := cnt.end(ctx)
	total := 0
	for _, a := range apps {
		total += a.Objects
	}
	b.progress("drift: %s holds %d applications, %d objects; one listing costs %.0f requests", c.Name, len(apps), total, listCost)

	cnt = api.begin(ctx)
	start := time.Now()
	var ans struct {
		RequestedAt time.Time `json:"requested_at"`
	}
	if _, err := b.main.write(ctx, http.MethodPost, "/api/v1/clusters/"+c.Name+"/drift-checks", []byte("{}"), &ans); err != nil {
		return err
	}
	polls := 0
	var end time.Time
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for {
		time.Sleep(100 * time.Millisecond)
		apps, err := b.main.applications(wctx, c.Name)
		polls++
		if err != nil {
			return err
		}
		done, drifted := true, 0
		var last time.Time
		for _, a := range apps {
			if a.CheckedAt == nil || a.CheckedAt.Before(ans.RequestedAt) {
				done = false
				break
			}
			if a.CheckedAt.After(last) {
				last = *a.CheckedAt
			}
			if a.Drift == "drifted" {
				drifted++
			}
		}
		if done && len(apps) > 0 {
			end = last
			if drifted > 0 {
				b.progress("drift: %d applications reported drifted", drifted)
			}
			break
		}
		if wctx.Err() != nil {
			return fmt.Errorf("drift check did not reach every application: %w", wctx.Err())
		}
	}
	dd := end.Sub(start)
	if dd <= 0 {
		dd = time.Since(start) // clocks are the same machine's; guard anyway
	}
	req := cnt.end(ctx) - float64(polls)*listCost
	if req < 0 {
		req = 0
	}
	per1000 := 1000 / float64(total)
	b.progress("drift: %.2fs, %.0f requests for %d objects", dd.Seconds(), req, total)
	scen := "drift check (on-demand endpoint), per 1,000 objects in sync"
	b.add(row{Scenario: scen, Figure: "POST drift-checks → every application checked", Value: num(secs(dd) * per1000), Unit: "s",
		Note: fmt.Sprintf("%d objects measured, scaled to 1,000", total)})
	b.add(row{Scenario: scen, Figure: "API requests", Value: num(req * per1000), Unit: "req",
		Note: fmt.Sprintf("%.0f requests for %d objects; includes probes in the window, minus the benchmark's own listings", req, total)})
	return nil
}

// intake: signed submissions per second and their p99, 8 clients, on
// SQLite and PostgreSQL. Each client submits to its own cluster record whose
// application is held by a job that hangs (the stand-in operator never
// reconciles it), so every submission is accepted and stays queued.
func (b *bench) intake(ctx context.Context) error {
	dbs := []string{"sqlite"}
	if !b.opts.noPostgres {
		dbs = append(dbs, "postgres")
	}
	for _, db := range dbs {
		if err := b.intakeOn(ctx, db); err != nil {
			b.add(row{Scenario: "intake, " + db, Figure: "signed submissions", NA: "failed: " + oneLine(err.Error())})
			b.progress("intake %s failed: %v", db, err)
		}
	}
	return nil
}

func (b *bench) intakeOn(ctx context.Context, db string) error {
	C, M := b.opts.intakeClients, b.opts.intakeJobs
	c, api := b.bed.Clusters[0], b.api[0]
	ns := "bench-intake"
	if err := api.ensureNamespace(ctx, ns, true); err != nil {
		return err
	}
	dir := filepath.Join(b.dir, "pushd-intake-"+db)
	dbURL := ""
	if db == "postgres" {
		pg, err := startPostgres()
		if err != nil {
			return err
		}
		defer pg.stop()
		dbURL = pg.URL
	}
	p, err := newPushd("intake-"+db, b.bin, dir, dbURL, nil, b.progress)
	if err != nil {
		return err
	}
	prefix := "i" + db[:2]
	var apps []string
	for i := range C {
		apps = append(apps, fmt.Sprintf("intake-%d", i))
	}
	first := prefix + "-0"
	b.progress("intake %s: registering %d cluster records (one bootstrapped credential, shared)", db, C)
	if _, err := p.cli(ctx, "clusters", "add", first, "--namespaces", ns, "--applications", strings.Join(apps, ",")); err != nil {
		return err
	}
	if _, err := p.cli(ctx, "clusters", "bootstrap", "--admin-kubeconfig", c.AdminKubeconfig, "--cluster", first, "--service-account-namespace", "pushd-"+prefix); err != nil {
		return err
	}
	for i := 1; i < C; i++ {
		if _, err := p.cli(ctx, "clusters", "add", fmt.Sprintf("%s-%d", prefix, i), "--namespaces", ns, "--applications", strings.Join(apps, ","),
			"--kubeconfig", filepath.Join(p.kubeDir, first+".kubeconfig")); err != nil {
			return err
		}
	}
	if err := p.start(ctx); err != nil {
		return err
	}
	defer p.stop()
	// One hanging job per record holds its application: what follows queues.
	for i := range C {
		cl, app := fmt.Sprintf("%s-%d", prefix, i), apps[i]
		j := newJob(cl+"-hold", cl, ns, app, []map[string]any{{
			"apiVersion": "vworkspace.io/v1alpha1", "kind": "Application",
			"metadata": map[string]any{"name": cl + "-hold", "namespace": ns,
				"annotations": map[string]any{"testbed.vworkspace.io/outcome": "hang"}},
			"spec": map[string]any{"chart": "bench"},
		}})
		j.TimeoutSeconds = 3600
		if err := p.submit(ctx, j); err != nil {
			return err
		}
	}
	body := func(cl, app string, k int) []byte {
		j := newJob(fmt.Sprintf("%s-%d-%s", cl, k, testbed.RandomHex(3)), cl, ns, app, configMaps(ns, app, 1, fmt.Sprintf("v%d", k)))
		data, _ := json.Marshal(j)
		return data
	}
	b.progress("intake %s: %d clients × %d signed submissions", db, C, M)
	lat := make([][]time.Duration, C)
	var wg sync.WaitGroup
	errs := make([]error, C)
	start := time.Now()
	for i := range C {
		wg.Go(func() {
			cl, app := fmt.Sprintf("%s-%d", prefix, i), apps[i]
			for k := range M {
				data := body(cl, app, k)
				t0 := time.Now()
				if _, err := p.write(ctx, http.MethodPost, "/api/v1/jobs", data, nil); err != nil {
					errs[i] = err
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	var all []time.Duration
	for i := range C {
		if errs[i] != nil {
			return errs[i]
		}
		all = append(all, lat[i]...)
	}
	rate := float64(len(all)) / secs(wall)
	p50, p99 := percentile(all, 50), percentile(all, 99)
	b.progress("intake %s: %.0f jobs/s, p50 %s, p99 %s", db, rate, p50, p99)
	scen := fmt.Sprintf("intake, %s, %d clients", db, C)
	target, met := "", (*bool)(nil)
	if db == "sqlite" {
		target, met = "≥ 1,000 jobs/s", boolp(rate >= 1000)
	}
	b.add(row{Scenario: scen, Figure: "signed submissions per second (202)", Value: num(rate), Unit: "jobs/s", Target: target, Met: met,
		Note: fmt.Sprintf("%d submissions", len(all))})
	if db == "sqlite" {
		target, met = "≤ 50 ms", boolp(ms(p99) <= 50)
	}
	b.add(row{Scenario: scen, Figure: "submission latency p99", Value: num(ms(p99)), Unit: "ms", Target: target, Met: met,
		Note: fmt.Sprintf("p50 %.1f ms", ms(p50))})
	return nil
}

// scale: N cluster records, each with its own ServiceAccount and token,
// registered through the signed API and pointing at the test bed's API
// servers (round robin).
func (b *bench) scale(ctx context.Context) error {
	N := b.opts.scaleClusters
	ns, saNS := "bench-scale", "pushd-scale"
	// Seed: bootstrap once per API server (through the CLI, in a state of
	// its own) to get the Roles pushd's bootstrap creates; every record then
	// gets its own ServiceAccount bound to them and its own token.
	seed, err := newPushd("seed", b.bin, filepath.Join(b.dir, "pushd-seed"), "", nil, b.progress)
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
	p, err := newPushd("scale", b.bin, filepath.Join(b.dir, "pushd-scale"), "", nil, b.progress)
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

// poll: what one status poll costs the API server. Nothing triggers a poll
// from outside, so a pushd of its own polls the drift cluster every 2 s with
// probes pushed out to 1 h, and the requests over a window are divided by the
// polls that happened in it (from the applications' checked_at before and
// after, read outside the window). The poll's duration is not observable.
func (b *bench) poll(ctx context.Context) error {
	k := len(b.bed.Clusters) - 1
	c, api := b.bed.Clusters[k], b.api[k]
	interval := 2 * time.Second
	p, err := newPushd("poll", b.bin, filepath.Join(b.dir, "pushd-poll"), "", []string{"--status-interval", interval.String(), "--probe-interval", "1h"}, b.progress)
	if err != nil {
		return err
	}
	if _, err := p.cli(ctx, "clusters", "add", c.Name, "--namespaces", strings.Join(mainNamespaces, ","), "--applications", strings.Join(b.mainApplications(), ","),
		"--kubeconfig", filepath.Join(b.main.kubeDir, c.Name+".kubeconfig")); err != nil {
		return err
	}
	if err := p.start(ctx); err != nil {
		return err
	}
	defer p.stop()
	newest := func() (time.Time, int, int, error) {
		apps, err := p.applications(ctx, c.Name)
		if err != nil {
			return time.Time{}, 0, 0, err
		}
		var t time.Time
		total := 0
		for _, a := range apps {
			total += a.Objects
			if a.CheckedAt != nil && a.CheckedAt.After(t) {
				t = *a.CheckedAt
			}
		}
		return t, total, len(apps), nil
	}
	time.Sleep(2 * interval)
	t0, total, napps, err := newest()
	if err != nil {
		return err
	}
	if total == 0 || t0.IsZero() {
		return fmt.Errorf("no polled application on %s (run with drift)", c.Name)
	}
	window := 20 * time.Second
	b.progress("poll: %s holds %d applications, %d objects; counting requests for %s of polls every %s", c.Name, napps, total, window, interval)
	cnt := api.begin(ctx)
	time.Sleep(window)
	req := cnt.end(ctx)
	t1, _, _, err := newest()
	if err != nil {
		return err
	}
	polls := (t1.Sub(t0) + interval/2) / interval
	if polls < 1 {
		return fmt.Errorf("no poll seen in %s", window)
	}
	perPoll := req / float64(polls)
	b.progress("poll: %d polls, %.0f requests: %.1f per poll", polls, req, perPoll)
	// Not scaled: a poll costs one LIST per kind and namespace, whatever the
	// number of objects.
	scen := fmt.Sprintf("status poll of %d objects (%d applications)", total, napps)
	b.add(row{Scenario: scen, Figure: "API requests per poll", Value: num(perPoll), Unit: "req",
		Note: fmt.Sprintf("%.2f per 1,000 objects; %d polls at --status-interval %s, probes off", perPoll*1000/float64(total), polls, interval)})
	b.add(row{Scenario: scen, Figure: "time per poll",
		NA: "no endpoint triggers a status poll and none reports its duration; only its requests are observable"})
	return nil
}
