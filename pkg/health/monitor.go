package health

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/leases"
	"github.com/vworkspace/pushd/pkg/store"
	"github.com/vworkspace/pushd/pkg/workers"
)

// Event types the monitor records (and the outbox delivers to Odoo).
const (
	EventConnectivityChanged = "cluster.connectivity_changed"
	EventCredentialExpiring  = "credential.expiring"
)

// DefaultProbeInterval is MonitorOptions.Interval's default (--probe-interval).
const DefaultProbeInterval = 15 * time.Second

// MonitorOptions tune health probing.
type MonitorOptions struct {
	// Interval between probes of a healthy cluster, give or take a tenth
	// by cluster (spread). Default 15s. Most are light (ProbeLight: one GET
	// per namespace); see FullInterval.
	Interval time.Duration
	// FullInterval is the longest a cluster goes without a full Probe (its
	// rights and identity checks); a light probe that sees any change
	// probes fully at once. Default 5 minutes.
	FullInterval time.Duration
	// ProbeTimeout bounds one probe. Default 5s.
	ProbeTimeout time.Duration
	// Breaker tunes each cluster's circuit breaker.
	Breaker BreakerOptions
	// ExpiryWarning: a credential expiring sooner than this is reported
	// (credential.expiring, once per token). Default 2h.
	ExpiryWarning time.Duration
	// Assigner limits the probes to the clusters this replica observes,
	// each probe's writes fenced by its lease; the other clusters' breakers
	// are read from their holders' stored probes. Default leases.Solo:
	// every cluster is probed here.
	Assigner leases.Assigner
	Logger   *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

func (o *MonitorOptions) defaults() {
	if o.Assigner == nil {
		o.Assigner = leases.Solo{}
	}
	if o.Interval == 0 {
		o.Interval = DefaultProbeInterval
	}
	if o.FullInterval == 0 {
		o.FullInterval = 5 * time.Minute
	}
	if o.ProbeTimeout == 0 {
		o.ProbeTimeout = 5 * time.Second
	}
	if o.ExpiryWarning == 0 {
		o.ExpiryWarning = 2 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Monitor probes every cluster on its own schedule, each in its own
// goroutine behind its own circuit breaker, records what it saw, renews
// tokens that are due, and records an event on every connectivity change.
type Monitor struct {
	reg   *clusters.Registry
	store *store.Store
	opts  MonitorOptions

	mu     sync.Mutex
	health map[string]*health
	// remote are the breakers of clusters another replica probes, as
	// their last stored probes left them (refreshed by Run).
	remote map[string]storedBreaker
}

// storedBreaker is a breaker as the prober stored it.
type storedBreaker struct {
	state string
	retry *time.Time
}

// health is the monitor's memory of one cluster.
type health struct {
	// checking serialises Check for one cluster: the loop and an API call
	// (a new kubeconfig) may probe at once, and renewal must not run twice.
	checking sync.Mutex
	breaker  *Breaker
	renewAt  time.Time // earliest next renewal attempt (backoff after a failure)
	renewTry time.Duration
	warned   time.Time // expiry already reported as expiring
	fullAt   time.Time // last full Probe
	// neighbourNext is where the next full probe's page of neighbour
	// namespaces starts (neighbourWindow).
	neighbourNext string
	// lifetimeWarned: the uncapped token lifetime was logged (once).
	lifetimeWarned bool
}

// NewMonitor builds a monitor over the registry's clusters.
func NewMonitor(reg *clusters.Registry, st *store.Store, opts MonitorOptions) *Monitor {
	opts.defaults()
	return &Monitor{reg: reg, store: st, opts: opts, health: map[string]*health{}, remote: map[string]storedBreaker{}}
}

func (m *Monitor) healthOf(id string) *health {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.health[id]
	if !ok {
		h = &health{breaker: NewBreaker(m.opts.Breaker, m.opts.Now)}
		m.health[id] = h
	}
	return h
}

// Run probes clusters until ctx ends. A cluster is probed when its interval
// has passed and its breaker lets a call through; never twice at once. The
// probes run as Workers of this loop.
func (m *Monitor) Run(ctx context.Context) {
	tick := time.NewTicker(min(time.Second, m.opts.Interval))
	defer tick.Stop()
	probes := workers.New("probe", m.opts.Logger)
	defer probes.Wait()
	for scan := true; ; {
		if scan {
			m.startProbes(ctx, probes)
		}
		select {
		case <-ctx.Done():
			return
		case f := <-probes.Done(): // a probe returned; its cluster's interval starts now
			probes.Finished(f, m.opts.Now())
			scan = false
		case <-tick.C: // intervals may have passed
			scan = true
		}
	}
}

// startProbes starts a probe of every cluster that is due.
func (m *Monitor) startProbes(ctx context.Context, probes *workers.Set) {
	recs, err := m.reg.List(ctx, "")
	if err != nil {
		if ctx.Err() == nil {
			m.opts.Logger.Warn("list clusters", "err", err)
		}
		return
	}
	probes.Keep(func(id string) bool {
		return slices.ContainsFunc(recs, func(r *clusters.Record) bool { return r.ID == id })
	})
	if slices.ContainsFunc(recs, func(r *clusters.Record) bool { return !m.mine(r.ID) }) {
		m.refreshRemote(ctx)
	}
	for _, rec := range recs {
		if !m.mine(rec.ID) || !probes.Due(rec.ID, spread(rec.ID, m.opts.Interval), m.opts.Now()) {
			continue
		}
		probes.Go(rec.ID, func() {
			_, err := m.check(ctx, rec, false)
			if err != nil && ctx.Err() == nil && !m.opts.Assigner.Dropped(err, "probe", rec.ID) {
				m.opts.Logger.Warn("probe", "cluster", rec.ID, "err", err)
			}
		}, nil)
	}
}

// mine tells whether this replica probes the cluster.
func (m *Monitor) mine(id string) bool {
	_, mine := m.opts.Assigner.Assign(context.Background(), id)
	return mine
}

// refreshRemote reads the breakers of the clusters other replicas probe,
// for Allow: one query a scan, when there are such clusters.
func (m *Monitor) refreshRemote(ctx context.Context) {
	rows, err := m.store.ClusterStatuses(ctx, nil)
	if err != nil {
		if ctx.Err() == nil {
			m.opts.Logger.Warn("read stored breakers", "err", err)
		}
		return
	}
	remote := make(map[string]storedBreaker, len(rows))
	for id, r := range rows {
		remote[id] = storedBreaker{state: r.Breaker, retry: r.BreakerRetryAt}
	}
	m.mu.Lock()
	m.remote = remote
	m.mu.Unlock()
}

// breaker is the cluster's breaker state as this replica goes by: its own
// when it probes the cluster (or without leases), otherwise the prober's as
// last stored (closed when none is).
func (m *Monitor) breaker(id string) (state string, retry time.Time) {
	if m.mine(id) {
		return m.healthOf(id).breaker.State()
	}
	m.mu.Lock()
	b, ok := m.remote[id]
	m.mu.Unlock()
	if !ok || b.state == "" {
		return BreakerClosed, time.Time{}
	}
	if b.retry != nil {
		retry = *b.retry
	}
	return b.state, retry
}

// Reset closes the cluster's breaker: its credential was just replaced, so
// past failures say nothing about the next call.
func (m *Monitor) Reset(id string) {
	m.healthOf(id).breaker.Success()
}

// Forget drops the monitor's memory of a cluster pushd no longer serves
// (breaker, renewal backoff), so an id registered again starts afresh.
func (m *Monitor) Forget(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.health, id)
}

// Allow reports whether calls to the cluster may go out now (its breaker is
// not open), without changing the breaker (see Breaker.Admit). Jobs, polls
// and drift checks use it to fail fast on a cluster known to be down.
func (m *Monitor) Allow(id string) bool {
	st, retry := m.breaker(id)
	return st != BreakerOpen || !m.opts.Now().Before(retry)
}

// Check probes one cluster now (unless its breaker is open), stores the
// result and records events for what changed.
func (m *Monitor) Check(ctx context.Context, rec *clusters.Record) (Status, error) {
	return m.check(ctx, rec, true)
}

// check is Check; unless full, a light probe does when the last full one
// is recent.
func (m *Monitor) check(ctx context.Context, rec *clusters.Record, full bool) (Status, error) {
	// What this probe stores is dropped if the lease is lost meanwhile.
	// A probe asked through another replica (a new credential) is stored
	// unfenced: it is one probe per request, not per replica.
	if fenced, mine := m.opts.Assigner.Assign(ctx, rec.ID); mine {
		ctx = fenced
	}
	h := m.healthOf(rec.ID)
	h.checking.Lock()
	defer h.checking.Unlock()
	now := m.opts.Now().UTC()
	prev, err := m.previous(ctx, rec.ID)
	if err != nil {
		return Status{}, err
	}
	var st Status
	c, err := m.reg.Clients(rec.ID)
	switch {
	case errors.Is(err, clusters.ErrNoCredentials):
		st = Status{Connectivity: Connectivity{State: StateNoCredentials, CheckedAt: &now, Message: "no kubeconfig stored for this cluster"},
			Namespaces: []NamespaceStatus{}, Credential: CredentialInfo{ExcessRights: []string{}}}
	case err != nil:
		st = Status{Connectivity: Connectivity{State: StateNoCredentials, CheckedAt: &now, Message: err.Error()},
			Namespaces: []NamespaceStatus{}, Credential: CredentialInfo{ExcessRights: []string{}}}
	case !h.breaker.Admit():
		// Open breaker: keep the last observation, do not touch the cluster.
		return m.Observed(ctx, rec.ID)
	default:
		pctx, cancel := context.WithTimeout(ctx, m.opts.ProbeTimeout)
		light := false
		if !full && now.Sub(h.fullAt) < m.opts.FullInterval {
			st, light = ProbeLight(pctx, c, rec, m.fromRow(rec.ID, prev), now)
		}
		if !light {
			all := m.neighbours(ctx, rec, c)
			window, next := neighbourWindow(all, h.neighbourNext)
			st = Probe(pctx, c, rec, window, now)
			if st.Connectivity.State == StateReady {
				h.neighbourNext = next
				st.Credential.ExcessRights = carriedNeighbours(st.Credential.ExcessRights, m.fromRow(rec.ID, prev).Credential.ExcessRights, all, window)
			}
			h.fullAt = now
			if tl := st.Credential.TokenLifetime; tl != nil && !tl.Capped && !h.lifetimeWarned {
				h.lifetimeWarned = true
				m.opts.Logger.Warn("the API server does not cap token lifetime (--service-account-max-token-expiration): the credential may mint itself tokens of any lifetime",
					"cluster", rec.ID, "granted_seconds", tl.MaxSeconds)
			}
		}
		cancel()
		if st.Connectivity.State == StateReady {
			h.breaker.Success()
		} else {
			h.breaker.Failure()
		}
	}
	if cred, err := m.reg.Credential(rec.ID); err == nil {
		if claims, ok := cred.Claims(); ok && !claims.Expiry.IsZero() {
			exp := claims.Expiry
			st.Credential.Expiry = &exp
			if st.Credential.Subject == "" {
				st.Credential.Subject = claims.Subject
			}
		}
	}
	var renewed *time.Time
	var renewal *store.Event
	if st.Connectivity.State == StateReady && c != nil {
		renewed, renewal = m.renew(ctx, rec, c, h, now)
		if renewed != nil {
			st.Credential.Expiry, st.Credential.RenewedAt = renewed, &now
		}
	}
	// The events are counted from the status as stored when this probe's
	// is written: another replica may have probed meanwhile.
	err = m.store.UpdateClusterStatus(ctx, rec.ID, func(prev store.ClusterStatus) (*store.ClusterStatus, []*store.Event, error) {
		if renewed == nil {
			st.Credential.RenewedAt = prev.CredentialRenewed
		}
		events := m.transitions(rec, prev, st, now)
		if renewal != nil {
			events = append(events, renewal)
		}
		row, err := m.row(rec.ID, prev, st)
		return row, events, err
	})
	return st, err
}

// transitions are the events of what changed between the stored status and
// a new one.
func (m *Monitor) transitions(rec *clusters.Record, prev store.ClusterStatus, st Status, now time.Time) []*store.Event {
	var events []*store.Event
	if st.Connectivity.State != State(prev.State) {
		m.opts.Logger.Info("connectivity changed", "cluster", rec.ID, "from", prev.State, "to", st.Connectivity.State, "message", st.Connectivity.Message)
		var previous any = prev.State
		if prev.State == "" {
			previous = nil // the first observation: there was no state before
		}
		events = append(events, clusters.NewEvent(EventConnectivityChanged, rec, map[string]any{
			"state": st.Connectivity.State, "previous_state": previous, "message": st.Connectivity.Message, "checked_at": now,
		}))
	}
	if st.Connectivity.State == StateReady && State(prev.State) == StateReady {
		events = append(events, namespaceEvents(rec, m.fromRow(rec.ID, prev).Namespaces, st.Namespaces)...)
	}
	return events
}

// previous is the last stored observation (empty state when none).
func (m *Monitor) previous(ctx context.Context, id string) (store.ClusterStatus, error) {
	all, err := m.store.ClusterStatuses(ctx, []string{id})
	if err != nil {
		return store.ClusterStatus{}, err
	}
	return all[id], nil
}

// row is what is stored of st.
func (m *Monitor) row(id string, prev store.ClusterStatus, st Status) (*store.ClusterStatus, error) {
	ns, err := json.Marshal(st.Namespaces)
	if err != nil {
		return nil, err
	}
	excess, _ := json.Marshal(st.Credential.ExcessRights)
	row := &store.ClusterStatus{
		ClusterID: id, State: string(st.Connectivity.State), Message: st.Connectivity.Message, CheckedAt: *st.Connectivity.CheckedAt,
		ServerVersion: st.ServerVersion, CredentialSubject: st.Credential.Subject, CredentialExpiry: st.Credential.Expiry,
		CredentialRenewed: st.Credential.RenewedAt, Namespaces: string(ns), ExcessRights: string(excess),
		Breaker: prev.Breaker, BreakerRetryAt: prev.BreakerRetryAt,
	}
	if m.mine(id) {
		// The breaker other replicas go by (Allow) is the prober's.
		state, retry := m.healthOf(id).breaker.State()
		row.Breaker, row.BreakerRetryAt = state, nil
		if state != BreakerClosed {
			row.BreakerRetryAt = &retry
		}
	}
	return row, nil
}

// Observed returns the last stored observation of a cluster, with its breaker state.
func (m *Monitor) Observed(ctx context.Context, id string) (Status, error) {
	row, err := m.previous(ctx, id)
	if err != nil {
		return Status{}, err
	}
	return m.fromRow(id, row), nil
}

// ObservedAll returns the last observation of every registered cluster, as
// Observed does: one never probed is in the map too, "not probed yet".
func (m *Monitor) ObservedAll(ctx context.Context) (map[string]Status, error) {
	recs, err := m.reg.List(ctx, "")
	if err != nil {
		return nil, err
	}
	rows, err := m.store.ClusterStatuses(ctx, nil)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Status, len(recs))
	for _, rec := range recs {
		out[rec.ID] = m.fromRow(rec.ID, rows[rec.ID])
	}
	return out, nil
}

func (m *Monitor) fromRow(id string, row store.ClusterStatus) Status {
	st := Status{
		Connectivity:  Connectivity{State: State(row.State), Message: row.Message},
		ServerVersion: row.ServerVersion,
		Credential:    CredentialInfo{Subject: row.CredentialSubject, Expiry: row.CredentialExpiry, RenewedAt: row.CredentialRenewed, ExcessRights: []string{}},
		Namespaces:    []NamespaceStatus{},
	}
	if !row.CheckedAt.IsZero() {
		checked := row.CheckedAt.UTC()
		st.Connectivity.CheckedAt = &checked
	}
	if st.Connectivity.State == "" {
		st.Connectivity.State, st.Connectivity.Message = StateNoCredentials, "not probed yet"
		if m.reg.HasCredential(id) {
			st.Connectivity.State = StateUnreachable
		}
	}
	json.Unmarshal([]byte(row.Namespaces), &st.Namespaces)
	json.Unmarshal([]byte(row.ExcessRights), &st.Credential.ExcessRights)
	state, retry := m.breaker(id)
	st.Connectivity.Breaker = state
	if state != BreakerClosed {
		st.Connectivity.RetryAt = &retry
	}
	return st
}
