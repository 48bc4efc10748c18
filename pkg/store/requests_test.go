package store

import (
	"context"
	"fmt"
	"testing"
)

// TestRequestJobs: a request's jobs are one per (cluster, namespace,
// application) — two applications of one cluster both count — the newest
// when a job was resubmitted under a new id; other requests, other
// organizations and jobs without a request stay out.
func TestRequestJobs(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s *Store) {
		add := func(org, req, cluster, ns, app, id string) {
			t.Helper()
			if _, err := s.CreateJob(ctx, &Job{Organization: org, ID: id, Cluster: cluster, Namespace: ns, Application: app, RequestID: req,
				Action: "apply", Status: JobQueued, Manifests: `[{"kind":"ConfigMap"}]`}); err != nil {
				t.Fatal(err)
			}
		}
		add("o", "r", "c2", "ns", "app", "c2-app")
		add("o", "r", "c1", "ns", "wiki", "c1-wiki")
		add("o", "r", "c1", "ns", "app", "c1-app-failed")
		add("o", "r", "c1", "ns", "app", "c1-app-again") // a resubmission under a new id
		add("o", "r", "c1", "other", "app", "c1-other-app")
		add("o", "r2", "c1", "ns", "app", "another-request")
		add("o", "", "c1", "ns", "app", "no-request")
		add("p", "r", "c1", "ns", "app", "another-org")

		jobs, err := s.RequestJobs(ctx, "o", "r")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, j := range jobs {
			got = append(got, j.Cluster+"/"+j.Namespace+"/"+j.Application+"="+j.ID)
			if j.Manifests != "" || j.Status != JobQueued || j.RequestID != "r" || j.CreatedAt.IsZero() {
				t.Errorf("job %s: manifests %q, status %q, request %q, created %v", j.ID, j.Manifests, j.Status, j.RequestID, j.CreatedAt)
			}
		}
		want := []string{"c1/ns/app=c1-app-again", "c1/ns/wiki=c1-wiki", "c1/other/app=c1-other-app", "c2/ns/app=c2-app"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("RequestJobs = %v, want %v", got, want)
		}
		if jobs, err := s.RequestJobs(ctx, "o", ""); err != nil || len(jobs) != 0 {
			t.Errorf("RequestJobs without a request id = %v, %v; want none", jobs, err)
		}
	})
}
