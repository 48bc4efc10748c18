package clusters

import (
	"context"
	"time"

	"github.com/vworkspace/pushd/pkg/store"
)

// renew replaces a token that is due for renewal with a fresh one, requested
// with the credential itself. A failure backs off exponentially (no retry
// storms against a cluster that refuses) and, once the token is close to
// expiry, records credential.expiring once for that token. It returns the new
// expiry (with its credential.changed event), or the event to record.
func (m *Monitor) renew(ctx context.Context, rec *Record, c *Clients, h *health, now time.Time) (*time.Time, *store.Event) {
	cred, err := m.reg.Credential(rec.ID)
	if err != nil {
		return nil, nil
	}
	claims, ok := cred.Claims()
	if !ok || claims.Expiry.IsZero() || !RenewalDue(claims, now) || now.Before(h.renewAt) {
		return nil, nil
	}
	rctx, cancel := context.WithTimeout(ctx, m.opts.ProbeTimeout)
	fresh, err := RenewToken(rctx, c, cred, 0)
	cancel()
	if err == nil {
		err = m.reg.SaveCredential(rec.ID, fresh)
	}
	if err == nil {
		h.renewTry, h.renewAt = 0, time.Time{}
		fc, _ := fresh.Claims()
		m.opts.Logger.Info("token renewed", "cluster", rec.ID, "subject", fc.Subject, "expiry", fc.Expiry)
		return &fc.Expiry, credentialEvent(rec, CredentialRenewed, fresh)
	}
	h.renewTry = min(max(2*h.renewTry, time.Minute), time.Hour)
	h.renewAt = now.Add(h.renewTry)
	m.opts.Logger.Warn("token renewal failed", "cluster", rec.ID, "retry_in", h.renewTry, "err", err)
	if claims.Expiry.Sub(now) < m.opts.ExpiryWarning && !h.warned.Equal(claims.Expiry) {
		h.warned = claims.Expiry
		return nil, newEvent(EventCredentialExpiring, rec, map[string]any{
			"subject": claims.Subject, "expiry": claims.Expiry, "message": "token renewal failed: " + err.Error(),
		})
	}
	return nil, nil
}
