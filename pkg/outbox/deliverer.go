package outbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/vworkspace/pushd/pkg/store"
	"github.com/vworkspace/pushd/pkg/webhook"
	"github.com/vworkspace/pushd/pkg/workers"
)

// Options are the optional knobs of a Deliverer; zero values take the
// documented defaults.
type Options struct {
	// Client sends the callbacks. Default: a client that does not follow
	// redirects, so a 3xx counts as a failed attempt rather than a success at
	// another address.
	Client *http.Client
	// Timeout bounds one attempt, from dialing to reading the answer. Default 10s.
	Timeout time.Duration
	// PollInterval is how often the outbox is checked for due events when
	// nothing calls Notify. Default 1s.
	PollInterval time.Duration
	// Concurrency bounds how many clusters' events are sent at once (one
	// worker per cluster). Default 8.
	Concurrency int
	// BatchSize is how many events a worker sends for its cluster in a row
	// before it gives its slot back, so a cluster with a long backlog does not
	// keep waiting clusters out. Default 100.
	BatchSize int
	// BackoffBase is the delay after an event's first failed attempt; it
	// doubles after each further failure. Default 1s.
	BackoffBase time.Duration
	// BackoffMax caps that delay. Default 10m. Each delay is shortened by up
	// to a fifth at random (jitter), so events that failed together are not
	// retried together.
	BackoffMax time.Duration
	// ParkAfter is how many attempts an event gets when the receiver refuses
	// it for good (a 4xx other than 408 and 429: the receiver will not take
	// this event, however often it is sent) before it is parked: set aside,
	// listed, and sent again only on request, so the cluster's later events
	// go on. Default 3.
	ParkAfter int
	// MaxAttempts and MaxAge are the budget of an event that keeps failing
	// for any other reason (no answer, 5xx, 408, 429): it is parked once it
	// has had MaxAttempts attempts and is older than MaxAge, both. Until
	// then it is retried with backoff and its cluster's later events wait, so
	// a receiver that is down for a while gets every event in order when it
	// is back. Defaults 50 and 72h.
	MaxAttempts int
	MaxAge      time.Duration
	// Lease is how long an event claimed by this deliverer is kept from the
	// others; a claim whose owner died is taken over once it ends. Default 1m;
	// raised to 2×Timeout when shorter, so a live owner never loses it
	// mid-attempt. Replicas compare lease times written by each other: their
	// clocks must agree to well within the lease (NTP does).
	Lease time.Duration
	// Retention is how long delivered events are kept (for inspection)
	// before they are pruned. Default 7 days.
	Retention time.Duration
	// PruneInterval is how often delivered events past Retention are pruned.
	// Default 1h.
	PruneInterval time.Duration
	// Owner names this deliverer in its claims; unique per process, at most
	// 64 bytes. Default: host name, process id and a random suffix.
	Owner string
	// Logger receives failed attempts (warn) and deliveries (debug); discarded when nil.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Metrics, when set, counts deliveries and failed attempts.
	Metrics *Metrics
}

func (o *Options) defaults() {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 100
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = time.Second
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 10 * time.Minute
	}
	if o.BackoffMax < o.BackoffBase {
		o.BackoffMax = o.BackoffBase
	}
	if o.ParkAfter <= 0 {
		o.ParkAfter = 3
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 50
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 72 * time.Hour
	}
	if o.Lease <= 0 {
		o.Lease = time.Minute
	}
	if o.Lease < 2*o.Timeout {
		o.Lease = 2 * o.Timeout
	}
	if o.Retention <= 0 {
		o.Retention = 7 * 24 * time.Hour
	}
	if o.PruneInterval <= 0 {
		o.PruneInterval = time.Hour
	}
	if o.Owner == "" {
		o.Owner = defaultOwner()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// defaultOwner is unique per process even when replicas share a host name.
func defaultOwner() string {
	host, _ := os.Hostname()
	if len(host) > 32 {
		host = host[:32]
	}
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Receiver is where one organization's events go: its callback URL and
// the secret that signs them.
type Receiver struct {
	URL    string
	Secret webhook.Secret
}

// Deliverer sends the outbox's events, each to its organization's receiver.
type Deliverer struct {
	st *store.Store
	// receivers maps an organization to its receiver; all, when set, takes
	// every organization's events instead (New).
	receivers map[string]Receiver
	all       *Receiver
	opts      Options
	log       *slog.Logger
	notify    chan struct{}
}

// New returns a Deliverer that POSTs every event of st, whatever its
// organization, to url, signed with secret: for a store that holds one
// organization's events. pushd serve uses ForOrganizations, so that no
// organization's receiver is ever sent another's events. It sends nothing
// until Run.
func New(st *store.Store, url string, secret webhook.Secret, opts Options) *Deliverer {
	d := newDeliverer(st, opts)
	d.all = &Receiver{URL: url, Secret: secret}
	return d
}

// ForOrganizations returns a Deliverer that POSTs each event of st to the
// receiver of the event's organization, signed with that receiver's secret,
// and to no other. An event of an organization without a receiver is not
// sent: each try records a failed attempt (reason "no callback receiver",
// counted as such) and backs off like any other, holding its cluster's
// later events back, so that the events go out in order once a receiver is
// configured — or are parked once their attempt budget is spent. It sends
// nothing until Run.
func ForOrganizations(st *store.Store, receivers map[string]Receiver, opts Options) *Deliverer {
	d := newDeliverer(st, opts)
	d.receivers = make(map[string]Receiver, len(receivers))
	for org, r := range receivers {
		d.receivers[org] = r
	}
	return d
}

func newDeliverer(st *store.Store, opts Options) *Deliverer {
	opts.defaults()
	return &Deliverer{
		st:     st,
		opts:   opts,
		log:    opts.Logger.With("owner", opts.Owner),
		notify: make(chan struct{}, 1),
	}
}

// receiver is where the events of org go; false when org has none.
func (d *Deliverer) receiver(org string) (Receiver, bool) {
	if d.all != nil {
		return *d.all, true
	}
	r, ok := d.receivers[org]
	return r, ok
}

// Notify wakes the delivery loop at once; writers call it after committing an
// event so it goes out without waiting for the next poll. It never blocks.
func (d *Deliverer) Notify() {
	select {
	case d.notify <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Parked lists an organization's parked events, oldest first, after the
// sequence number after, at most limit.
func (d *Deliverer) Parked(ctx context.Context, org string, after int64, limit int) ([]store.ParkedEvent, error) {
	return d.st.ParkedEvents(ctx, org, after, limit)
}

// Resend puts an organization's parked event back in its cluster's queue
// with a fresh attempt budget and wakes the delivery loop: it is its
// cluster's next event to go out. store.ErrEventNotParked when there is no
// such parked event.
func (d *Deliverer) Resend(ctx context.Context, org, id string) (*store.Event, error) {
	e, err := d.st.ResendEvent(ctx, org, id, d.opts.Now())
	if err != nil {
		return nil, err
	}
	d.log.InfoContext(ctx, "outbox: parked event sent again on request", "event", id, "cluster", e.Cluster)
	d.Notify()
	return e, nil
}

// Run delivers events until ctx ends, then waits for the attempts in flight
// to stop (their claims are released, so another replica takes over at once).
func (d *Deliverer) Run(ctx context.Context) {
	poll := time.NewTicker(d.opts.PollInterval)
	defer poll.Stop()
	// One worker per cluster at a time, as ordering needs. A worker that
	// panicked leaves its event's claim to lapse; the cluster is held back
	// for the Set's backoff, then its head event is sent again. The backoff
	// runs on the wall clock: Options.Now dates deliveries, not this.
	senders := workers.New("callback", d.opts.Logger)
	var nextPrune time.Time
	for {
		now := d.opts.Now()
		if !now.Before(nextPrune) {
			d.prune(ctx, now)
			nextPrune = now.Add(d.opts.PruneInterval)
		}
		if free := d.opts.Concurrency - senders.Total(); free > 0 && ctx.Err() == nil {
			for _, e := range d.claim(ctx, free, nil, senders.Busy(time.Now())) {
				senders.Go(e.Cluster, func() { d.drain(ctx, e) }, nil)
			}
		}
		select {
		case <-ctx.Done():
			senders.Wait()
			return
		case f := <-senders.Done(): // a slot is free: look for more work now
			senders.Finished(f, time.Now())
		case <-d.notify: // an event was just written
		case <-poll.C: // retries come due, other replicas' claims lapse
		}
	}
}

// drain sends the claimed event e and then, while they succeed and are due,
// the next events of its cluster, up to BatchSize in a row.
func (d *Deliverer) drain(ctx context.Context, e store.Event) {
	for n := 1; ; n++ {
		if !d.attempt(ctx, e) || n >= d.opts.BatchSize {
			return
		}
		next := d.claim(ctx, 1, []string{e.Cluster}, nil)
		if len(next) == 0 {
			return
		}
		e = next[0]
	}
}

// claim takes up to limit due head events, of only the given clusters when
// non-nil, skipping those in exclude.
func (d *Deliverer) claim(ctx context.Context, limit int, only, exclude []string) []store.Event {
	c := store.EventClaim{
		Owner:    d.opts.Owner,
		Now:      d.opts.Now(),
		Lease:    d.opts.Lease,
		Limit:    limit,
		Clusters: only,
		Exclude:  exclude,
	}
	events, err := d.st.ClaimEvents(ctx, c)
	if err != nil && ctx.Err() == nil {
		d.log.WarnContext(ctx, "outbox: claim events", "err", err)
	}
	return events
}

func (d *Deliverer) prune(ctx context.Context, now time.Time) {
	n, err := d.st.PruneEvents(ctx, now.Add(-d.opts.Retention))
	switch {
	case err != nil && ctx.Err() == nil:
		d.log.WarnContext(ctx, "outbox: prune delivered events", "err", err)
	case n > 0:
		d.log.InfoContext(ctx, "outbox: pruned delivered events", "count", n, "older_than", d.opts.Retention)
	}
}
