package ui

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vworkspace/pushd/pkg/api"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/health"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/observe"
)

// What the UI needs of the rest of pushd. Each interface is the reads (and
// the few actions) of one collaborator; where the API has an interface for
// the same collaborator, the UI's is part of it (asserted below), so pushd
// serve hands both the same implementation. The database's rows and the
// outbox's reach the UI in its own types (Event, AuditEntry,
// StoredSession…), through uistore: the UI imports no store. The fakes
// beside them (fake.go) serve the UI's tests without a cluster or a
// database.

// Front is what the UI shares with the API server it is mounted in
// (*api.Server): one failure limit for API tokens and UI logins, one audit
// log, one error mapper, one notion of which proxies to trust.
type Front interface {
	// TooManyFailures refuses a client over its failed-authentication
	// allowance; AuthFailed counts one failure.
	TooManyFailures(c echo.Context) error
	AuthFailed(c echo.Context)
	// Audited records every request of a known caller that reaches it.
	Audited(action api.AuditAction, subject api.AuditSubject) echo.MiddlewareFunc
	// HandleError answers an error the UI does not render as a page.
	HandleError(err error, c echo.Context)
	// Secure says whether the client reached pushd over TLS.
	Secure(r *http.Request) bool
}

// Tokens checks the API token a login offers (*api.Authenticator).
type Tokens interface {
	Token(h http.Header) (api.Caller, bool)
}

// Clusters reads the organization's cluster records (*clusters.Registry).
type Clusters interface {
	Get(ctx context.Context, org, id string) (*clusters.Record, error)
	List(ctx context.Context, org string) ([]*clusters.Record, error)
}

// Clients are the per-cluster clients the application page reads a drifted
// object's live values with (*clusters.Registry).
type Clients interface {
	Clients(id string) (*clusters.Clients, error)
}

// Health is what the monitor observed of each cluster (*health.Monitor).
type Health interface {
	Observed(ctx context.Context, id string) (health.Status, error)
	ObservedAll(ctx context.Context) (map[string]health.Status, error)
}

// Jobs reads and cancels the organization's jobs (*jobs.Service).
type Jobs interface {
	Get(ctx context.Context, org, id string) (*jobs.Job, error)
	List(ctx context.Context, org string, o jobs.ListOptions) (*jobs.Page, error)
	RecentByCluster(ctx context.Context, org string, n int) (map[string][]jobs.Summary, error)
	Cancel(ctx context.Context, org, id string) (*jobs.Job, error)
	Request(ctx context.Context, org, requestID string) (*jobs.RequestView, error)
	RequestJobs(ctx context.Context, org, requestID string) ([]*jobs.Job, error)
	CancelRequest(ctx context.Context, org, requestID string) (*jobs.RequestView, error)
}

// Manifests are the objects a job was submitted with, as stored (a JSON
// array; *jobs.Service). The pages hide every Secret value of them.
type Manifests interface {
	Manifests(ctx context.Context, org, id string) (string, error)
}

// Inventory is the applications of each cluster and their drift
// (*observe.Watcher).
type Inventory interface {
	ApplicationList(ctx context.Context, cluster string) (*observe.ApplicationList, error)
	Application(ctx context.Context, cluster, namespace, application string) (*observe.ApplicationDetail, error)
	RequestDriftCheck(ctx context.Context, cluster string) (time.Time, error)
	// Counts and FailedCount are from the watcher's last results: no
	// request to the cluster.
	Counts(cluster string) (total, drifted int)
	FailedCount(cluster string) int
}

// Callbacks are the organization's parked callbacks (the outbox, through
// uistore.Callbacks). Resend answers ErrNotParked for an id that is not a
// parked callback of org.
type Callbacks interface {
	Parked(ctx context.Context, org string, after int64, limit int) ([]ParkedEvent, error)
	Resend(ctx context.Context, org, id string) (*Event, error)
}

// ErrNotParked: no parked callback of the organization has that id.
var ErrNotParked = errors.New("no such parked callback")

// Events are a cluster's newest events, newest first (uistore.Store).
type Events interface {
	Events(ctx context.Context, cluster string, limit int) ([]Event, error)
}

// AuditLog reads the organization's audit log (uistore.Store).
type AuditLog interface {
	AuditEntries(ctx context.Context, org string, q AuditQuery) ([]AuditEntry, error)
}

// Sessions keeps UI sessions across restarts (uistore.Store), each written
// in one transaction with its audit entry (when not nil).
// UISessionByHash answers nil when no live session has the hash.
type Sessions interface {
	SaveUISession(ctx context.Context, s StoredSession, audit *AuditEntry) error
	UISessionByHash(ctx context.Context, idHash string, now time.Time) (*StoredSession, error)
	DeleteUISession(ctx context.Context, idHash string, audit *AuditEntry) error
}

// Event is one of the events pushd records for Odoo (a job's new status,
// a cluster's connectivity, an application's drift…): its data is the
// JSON the callback carries.
type Event struct {
	ID, Type, Organization, Cluster string
	Data                            string
	CreatedAt                       time.Time
}

// ParkedEvent is an event whose delivery was given up on after its
// attempt budget, and why. Seq orders them (the page cursor).
type ParkedEvent struct {
	Event
	Seq       int64
	Attempts  int
	LastError string
	ParkedAt  time.Time
}

// AuditEntry is one entry of the audit log: who (the actor's kind and
// fingerprint) asked what, on what, and how it ended (api.AuditOK, or the
// error code, with the answer's status).
type AuditEntry struct {
	Seq                 int64
	At                  time.Time
	Organization        string
	ActorKind, ActorID  string
	Action              api.AuditAction
	Cluster, ClusterUID string
	Subject             string
	Outcome             string
	Status              int
}

// AuditQuery selects entries of one organization, oldest first; zero
// fields select all. After is the Seq of the last entry read.
type AuditQuery struct {
	Since, Until time.Time // At >= Since, At < Until
	Cluster      string
	Action       api.AuditAction
	After        int64
	Limit        int
}

// StoredSession is a UI session as the database keeps it: keyed by the
// SHA-256 of its id (hex), never the id, the cookie's secret.
type StoredSession struct {
	IDHash, Organization string
	CSRF                 string
	ExpiresAt            time.Time
}

// The UI's interfaces are parts of the API's where both read one
// collaborator, and the implementations pushd serve wires satisfy them
// (the database's and the outbox's are uistore's).
var (
	_ Front    = (*api.Server)(nil)
	_ Tokens   = (*api.Authenticator)(nil)
	_ Clusters = api.ClusterRegistry(nil)
	_ Health   = api.ClusterHealth(nil)
	_ Jobs     = api.JobService(nil)

	_ Clusters  = (*clusters.Registry)(nil)
	_ Clients   = (*clusters.Registry)(nil)
	_ Health    = (*health.Monitor)(nil)
	_ Jobs      = (*jobs.Service)(nil)
	_ Manifests = (*jobs.Service)(nil)
	_ Inventory = (*observe.Watcher)(nil)
)
