package api_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vworkspace/pushd/internal/apitest"
	"github.com/vworkspace/pushd/pkg/api"
	"github.com/vworkspace/pushd/pkg/config"
)

// metricsToken is the scraper's credential in these tests.
const metricsToken = "metrics-scraper-token-0123456789abcdef"

// scrape GETs /metrics of the server at base with the bearer token (none
// when empty), and checks the answer against the contract.
func scrape(t *testing.T, base, token string) apitest.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return apitest.Do(t, req)
}

// metricsServer is an API server with only what /metrics needs: the
// organizations' credentials and a registry with one cross-organization
// series, as the cluster gauges are.
func metricsServer(t *testing.T, opts api.Options) string {
	t.Helper()
	auth, err := api.NewAuthenticator([]config.Credential{{Organization: "acme", Value: apitest.AcmeSecret}},
		[]config.Credential{{Organization: "acme", Value: apitest.AcmeToken}, {Organization: "globex", Value: apitest.GlobexToken}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts.Registry = prometheus.NewRegistry()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "pushd_cluster_credential_expiry_seconds", Help: "test"}, []string{"cluster"})
	g.WithLabelValues("globex-secret-cluster").Set(3600)
	opts.Registry.MustRegister(g)
	srv := httptest.NewServer(api.New(api.Deps{Auth: auth}, opts))
	t.Cleanup(srv.Close)
	return srv.URL
}

// /metrics lists every organization's clusters: on the API's listener it
// is never anonymous, and no organization's read token opens it.
func TestMetricsAreNotAnonymous(t *testing.T) {
	t.Parallel()
	base := metricsServer(t, api.Options{})
	for _, tc := range []struct{ name, token string }{{"anonymous", ""}, {"an organization's read token", apitest.AcmeToken}} {
		r := scrape(t, base, tc.token)
		if r.Status != http.StatusUnauthorized || strings.Contains(string(r.Body), "globex-secret-cluster") {
			t.Errorf("%s scrape without a metrics token configured: %d, want 401:\n%.300s", tc.name, r.Status, r.Body)
		}
	}
}

// With a metrics token, the scraper's token opens /metrics and nothing else
// does; MetricsHandler, for an address of its own, serves the same
// metrics without one.
func TestMetricsTokenOpensMetrics(t *testing.T) {
	t.Parallel()
	base := metricsServer(t, api.Options{MetricsToken: metricsToken})
	for _, tc := range []struct{ name, token string }{{"anonymous", ""}, {"an organization's read token", apitest.GlobexToken}, {"a wrong token", metricsToken + "x"}} {
		if r := scrape(t, base, tc.token); r.Status != http.StatusUnauthorized || r.Code(t) != "unauthenticated" {
			t.Errorf("%s: %d %s, want 401 unauthenticated", tc.name, r.Status, r.Body)
		}
	}
	r := scrape(t, base, metricsToken)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `pushd_cluster_credential_expiry_seconds{cluster="globex-secret-cluster"} 3600`) {
		t.Fatalf("the metrics token: %d, want 200 with the gauges:\n%.300s", r.Status, r.Body)
	}
	if !strings.Contains(string(r.Body), `pushd_http_requests_total{code="401",method="GET",route="/metrics"} 3`) {
		t.Errorf("the refused scrapes are not counted:\n%s", r.Body)
	}
}
