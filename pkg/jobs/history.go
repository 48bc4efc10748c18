package jobs

import (
	"context"
	"time"

	"github.com/vworkspace/pushd/pkg/store"
)

// An application's history: every job of it — applies, deletes,
// rollbacks, drift corrections and operations — of its cluster record's
// current generation, newest first, with what a rollback needs to know of
// each: whether its manifests are still retained, and their digest.

// HistoryEntry is one job of an application's history.
type HistoryEntry struct {
	ID        string          `json:"id"`
	Action    string          `json:"action"`
	Trigger   string          `json:"trigger"`
	RequestID *string         `json:"request_id"`
	Status    store.JobStatus `json:"status"`
	Error     *Error          `json:"error"`
	// Intent: the job got to write, so it was the application's intent
	// once (a rollback may name it).
	Intent bool `json:"intent"`
	// SourceJob is the job a rollback put back; nil for other jobs.
	SourceJob *string `json:"source_job"`
	// ManifestDigest is the SHA-256 of the manifests as stored; nil for
	// jobs stored before pushd kept it, and for deletes.
	ManifestDigest *string `json:"manifest_digest"`
	// ManifestsRetained: the manifests are still stored, so a rollback to
	// the job can run.
	ManifestsRetained bool       `json:"manifests_retained"`
	CreatedAt         time.Time  `json:"created_at"`
	FinishedAt        *time.Time `json:"finished_at"`
}

// History is one page of an application's history.
type History struct {
	Items      []HistoryEntry `json:"items"`
	NextCursor *string        `json:"next_cursor"`
}

// History returns a page of the history of application in namespace of
// cluster (ErrNotFound through the registry when org has no such
// cluster).
func (s *Service) History(ctx context.Context, org, cluster, namespace, application, cursor string, limit int) (*History, error) {
	rec, err := s.clusters.Get(ctx, org, cluster)
	if err != nil {
		return nil, err
	}
	rows, next, err := s.page(ctx, store.JobFilter{Organization: org, Cluster: cluster, ClusterUID: rec.UID, Namespace: namespace, Application: application},
		cursor, limit)
	if err != nil {
		return nil, err
	}
	h := &History{Items: make([]HistoryEntry, 0, len(rows)), NextCursor: next}
	for i := range rows {
		r := &rows[i]
		j := FromRow(r)
		e := HistoryEntry{ID: r.ID, Action: r.Action, Trigger: r.Trigger, RequestID: j.RequestID, Status: r.Status, Error: j.Error,
			Intent: r.Intent, SourceJob: j.SourceJob, ManifestsRetained: r.Manifests != "" && r.Action != ActionDelete,
			CreatedAt: j.CreatedAt, FinishedAt: j.FinishedAt}
		if r.ManifestDigest != "" && r.Action != ActionDelete {
			e.ManifestDigest = &r.ManifestDigest
		}
		h.Items = append(h.Items, e)
	}
	return h, nil
}
