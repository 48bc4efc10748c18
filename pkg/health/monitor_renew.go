package health

import (
	"context"
	"time"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/clusters/bootstrap"
	"github.com/vworkspace/pushd/pkg/store"
)

// renew replaces a token that is due for renewal with a fresh one, requested
// with the credential itself. A failure backs off exponentially (no retry
// storms against a cluster that refuses) and, once the token is close to
// expiry, records credential.expiring once for that token. It returns the new
// expiry (with its credential.changed event), or the event to record.
func (m *Monitor) renew(ctx context.Context, rec *clusters.Record, c *clusters.Clients, h *health, now time.Time) (*time.Time, *store.Event) {
	cred, err := m.reg.Credential(rec.ID)
	if err != nil {
		return nil, nil
	}
	claims, ok := cred.Claims()
	if !ok || claims.Expiry.IsZero() || !bootstrap.RenewalDue(claims, now) || now.Before(h.renewAt) {
		return nil, nil
	}
	rctx, cancel := context.WithTimeout(ctx, m.opts.ProbeTimeout)
	fresh, err := bootstrap.RenewToken(rctx, c, cred, 0)
	cancel()
	if err == nil {
		err = m.reg.SaveCredential(rec.ID, fresh)
	}
	if err == nil {
		h.renewTry, h.renewAt = 0, time.Time{}
		fc, _ := fresh.Claims()
		m.opts.Logger.Info("token renewed", "cluster", rec.ID, "subject", fc.Subject, "expiry", fc.Expiry)
		m.audit(ctx, rec, now, store.AuditOK)
		return &fc.Expiry, clusters.CredentialEvent(rec, clusters.CredentialRenewed, fresh)
	}
	h.renewTry = min(max(2*h.renewTry, time.Minute), time.Hour)
	h.renewAt = now.Add(h.renewTry)
	m.opts.Logger.Warn("token renewal failed", "cluster", rec.ID, "retry_in", h.renewTry, "err", err)
	m.audit(ctx, rec, now, "renewal_failed")
	if claims.Expiry.Sub(now) < m.opts.ExpiryWarning && !h.warned.Equal(claims.Expiry) {
		h.warned = claims.Expiry
		return nil, clusters.NewEvent(EventCredentialExpiring, rec, map[string]any{
			"subject": claims.Subject, "expiry": claims.Expiry, "message": "token renewal failed: " + err.Error(),
		})
	}
	return nil, nil
}

// audit records a renewal attempt, by pushd, in the record's organization's
// audit log. It is written right after the credential file (not a database
// row, so there is no transaction to share) and its failure is logged only:
// the renewal happened either way.
func (m *Monitor) audit(ctx context.Context, rec *clusters.Record, now time.Time, outcome string) {
	err := m.store.AppendAudit(ctx, &store.AuditEntry{At: now, Organization: rec.Organization, ActorKind: store.ActorPushd,
		Action: store.AuditCredentialRenewed, Cluster: rec.ID, ClusterUID: rec.UID, Outcome: outcome})
	if err != nil {
		m.opts.Logger.Error("audit entry of a token renewal not written", "cluster", rec.ID, "err", err)
	}
}
