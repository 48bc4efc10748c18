package ui

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"sigs.k8s.io/yaml"

	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/outcome"
)

type uiJob struct {
	*jobs.Job
	// These shadow the Job's fields of the same name with display strings.
	RequestID, Operation       string
	Created, Started, Finished string
	Duration                   string
	ErrorCode, ErrorMessage    string
	// Manifests are the submitted objects as YAML, Secret values hidden.
	Manifests string
	// Cancellable: queued or running.
	Cancellable bool
	// AppLink is the application's page; empty without an inventory.
	AppLink string
	// Waiting is why, since when and until when a queued job waits for its
	// cluster; nil when it does not.
	Waiting *jobWaiting
	// Retries are the transient failures its run retried, oldest first.
	Retries []jobRetry
	// Live: the job is not final, so its page refreshes (live.js) until it is.
	Live bool
	// Result is an operate job's report of its operation; nil otherwise.
	Result *jobResult
}

// jobResult is an operate job's jobs.Result, for people: each output's
// value as JSON, sorted by name.
type jobResult struct {
	Outputs    []jobOutput
	Conditions []outcome.Condition
	ObservedAt string
}

type jobOutput struct{ Name, Value string }

// jobWaiting is a waiting job's jobs.Waiting, for people. NextAttempt is
// empty while it waits for its cluster rather than for a retry's backoff.
type jobWaiting struct {
	Reason, Since, NextAttempt, Deadline string
}

// jobRetry is one retried failure of a job's run.
type jobRetry struct {
	At, Error string
}

// job is one job with its per-object results and what was submitted.
func (u *server) job(c echo.Context) error {
	ctx, org := c.Request().Context(), organization(c)
	j, err := u.Jobs.Get(ctx, org, c.Param("id"))
	if err != nil {
		return err
	}
	page := newJobPage(j, time.Now())
	if u.Inventory != nil {
		page.AppLink = applicationPath(j.Cluster, j.Namespace, j.Application)
	}
	if u.Manifests != nil {
		if stored, err := u.Manifests.Manifests(ctx, org, j.ID); err == nil {
			page.Manifests = showManifests(stored)
		}
	}
	return u.render(c, http.StatusOK, "job", page)
}

// newJobPage is what the job page shows of j at now, but for the links and
// manifests, which need more than the job.
func newJobPage(j *jobs.Job, now time.Time) uiJob {
	final := j.Status != jobs.Queued && j.Status != jobs.Running
	page := uiJob{
		Job: j, Operation: j.Operation.Engine + "/" + j.Operation.Type,
		Created: showTime(&j.CreatedAt), Started: showTime(j.StartedAt), Finished: showTime(j.FinishedAt),
		Duration:    jobDuration(j.StartedAt, j.FinishedAt, now),
		Cancellable: !final, Live: !final,
	}
	if j.RequestID != nil {
		page.RequestID = *j.RequestID
	}
	if j.Error != nil {
		page.ErrorCode, page.ErrorMessage = j.Error.Code, j.Error.Message
	}
	if w := j.Waiting; w != nil {
		page.Waiting = &jobWaiting{Reason: w.Reason, Since: showTime(&w.Since), Deadline: showTime(&w.Deadline)}
		if w.NextAttemptAt != nil {
			page.Waiting.NextAttempt = showTime(w.NextAttemptAt)
		}
	}
	for _, r := range j.Retries {
		page.Retries = append(page.Retries, jobRetry{At: showTime(&r.At), Error: r.Error})
	}
	if r := j.Result; r != nil {
		page.Result = &jobResult{Conditions: r.Conditions, ObservedAt: showTime(&r.ObservedAt)}
		for _, name := range slices.Sorted(maps.Keys(r.Outputs)) {
			b, _ := json.Marshal(r.Outputs[name])
			page.Result.Outputs = append(page.Result.Outputs, jobOutput{Name: name, Value: string(b)})
		}
	}
	return page
}

// hidden replaces every value of a Secret on the job page.
const hidden = "(hidden)"

// lastAppliedAnnotation is the annotation in which kubectl apply keeps a copy of
// the whole object: on a Secret, its values.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// showManifests renders a job's stored objects (a JSON array) as YAML
// documents. The values of Secrets are replaced, key by key: the page shows
// which keys a Secret has, never what they hold.
func showManifests(stored string) string {
	var objs []map[string]any
	if err := json.Unmarshal([]byte(stored), &objs); err != nil {
		return ""
	}
	docs := make([]string, 0, len(objs))
	for _, o := range objs {
		if o["kind"] == "Secret" {
			for _, field := range []string{"data", "stringData"} {
				if m, ok := o[field].(map[string]any); ok {
					for k := range m {
						m[k] = hidden
					}
				}
			}
			// kubectl apply's copy of the whole object, values included.
			meta, _ := o["metadata"].(map[string]any)
			if a, ok := meta["annotations"].(map[string]any); ok && a[lastAppliedAnnotation] != nil {
				a[lastAppliedAnnotation] = hidden
			}
		}
		b, err := yaml.Marshal(o)
		if err != nil {
			continue
		}
		docs = append(docs, string(b))
	}
	return strings.Join(docs, "---\n")
}
