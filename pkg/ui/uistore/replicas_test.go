package uistore_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/pkg/api"
	"github.com/vworkspace/pushd/pkg/config"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/store"
	"github.com/vworkspace/pushd/pkg/ui"
	"github.com/vworkspace/pushd/pkg/ui/uistore"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

const (
	acmeToken  = "acme-read-token-0123456789abcdef"
	acmeSecret = "whsec_YWNtZS1zZWNyZXQta2V5LWZvci10ZXN0cw=="
	// sessionRecheck is how long the UI answers a session from memory
	// (pkg/ui's sessionRecheck), plus room for a slow machine.
	sessionRecheck = 5*time.Second + 2*time.Second
)

// replica is pushd's UI as pushd serve mounts it, on the database st
// shares with the other replicas, with a queued job of acme to cancel.
type replica struct {
	url  string
	jobs *ui.FakeJobs
}

func newReplica(t *testing.T, st *store.Store) *replica {
	t.Helper()
	auth, err := api.NewAuthenticator([]config.Credential{{Organization: "acme", Value: acmeSecret}},
		[]config.Credential{{Organization: "acme", Value: acmeToken}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fj := &ui.FakeJobs{Jobs: []*jobs.Job{{ID: "j-1", Organization: "acme", Cluster: "c-1", Status: jobs.Queued, CreatedAt: time.Now()}}}
	srv := api.New(api.Deps{Auth: auth}, api.Options{})
	srv.Mount("/ui", ui.New(ui.Deps{Front: srv, Auth: auth, Clusters: &ui.FakeClusters{}, Health: &ui.FakeHealth{}, Jobs: fj,
		Sessions: uistore.New(st)}, ui.Options{}))
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &replica{url: ts.URL, jobs: fj}
}

// send sends a request with cookie (a session's) to r and answers its
// status, where it redirects to, and its body; redirects are not followed.
func (r *replica) send(t *testing.T, method, path, cookie string, form url.Values) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, r.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ck := resp.Header.Get("Set-Cookie"); strings.HasPrefix(ck, "pushd_ui_session=") && method == http.MethodPost && path == "/ui/login" {
		return resp.StatusCode, strings.SplitN(ck, ";", 2)[0], string(b)
	}
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// TestLogoutEndsTheSessionOnEveryReplica: two pushd replicas on one
// database; a session opened on A works on B; once it logs out on A, B
// refuses it at once for an action (a POST is checked against the
// database) and within a few seconds for a page (a read may be answered
// from memory, for that long at most).
func TestLogoutEndsTheSessionOnEveryReplica(t *testing.T) {
	dbtest.EachContext(t, func(t *testing.T, ctx context.Context, db dbtest.Database) {
		st, err := store.Open(ctx, db.Driver, db.DSN, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		a, b := newReplica(t, st), newReplica(t, st)

		// Two sessions, both opened on A and used on B, both logged out on
		// A: one acts on B, the other reads (the action's lookup would
		// clear B's memory of its own session).
		var cookies, tokens [2]string
		for i := range cookies {
			status, cookie, _ := a.send(t, http.MethodPost, "/ui/login", "", url.Values{"token": {acmeToken}})
			if status != http.StatusSeeOther || !strings.HasPrefix(cookie, "pushd_ui_session=") {
				t.Fatalf("login on A: %d %q", status, cookie)
			}
			status, _, body := b.send(t, http.MethodGet, "/ui/", cookie, nil)
			m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
			if status != http.StatusOK || m == nil {
				t.Fatalf("A's session on B: %d, want the fleet page with its forms:\n%s", status, body)
			}
			cookies[i], tokens[i] = cookie, m[1]
		}
		for i, cookie := range cookies {
			if status, to, _ := a.send(t, http.MethodPost, "/ui/logout", cookie, url.Values{"csrf": {tokens[i]}}); status != http.StatusSeeOther || to != "/ui/login" {
				t.Fatalf("logout on A: %d %s", status, to)
			}
		}
		loggedOut := time.Now()
		status, to, _ := b.send(t, http.MethodPost, "/ui/jobs/j-1/cancel", cookies[0], url.Values{"csrf": {tokens[0]}})
		if status != http.StatusSeeOther || to != "/ui/login" || len(b.jobs.Cancelled) != 0 {
			t.Fatalf("an action on B after the logout on A: %d %s, cancelled %v; want a redirect to the login form and nothing cancelled",
				status, to, b.jobs.Cancelled)
		}
		for {
			status, to, _ := b.send(t, http.MethodGet, "/ui/", cookies[1], nil)
			if status == http.StatusSeeOther && to == "/ui/login" {
				t.Logf("B refused the page %v after the logout on A", time.Since(loggedOut).Round(time.Millisecond))
				break
			}
			if time.Since(loggedOut) > sessionRecheck {
				t.Fatalf("B still serves the session's pages %v after the logout on A: %d %s", time.Since(loggedOut).Round(time.Millisecond), status, to)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}
