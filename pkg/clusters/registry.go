package clusters

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/vworkspace/pushd/pkg/store"
)

// Errors the API maps to statuses.
var (
	// ErrNotFound: no such cluster, or one of another organization (404 either way).
	ErrNotFound = errors.New("cluster not found")
	// ErrOrganizationMismatch: a record naming an organization other than the caller's (403).
	ErrOrganizationMismatch = errors.New("the record names another organization than the caller's")
)

// RegistryOptions are the registry's optional knobs.
type RegistryOptions struct {
	Clients ClientOptions
	Logger  *slog.Logger
	Now     func() time.Time
}

// Registry is the set of clusters pushd serves: identity records in the
// database, credentials in the kubeconfig folder, and one set of clients per
// cluster, rebuilt when its credential file changes (rotation needs no restart).
type Registry struct {
	store *store.Store
	creds *CredentialStore
	opts  RegistryOptions

	mu      sync.Mutex
	clients map[string]cachedClients
}

// cachedClients are clients built from one version of a credential file.
// The file's identity (file, size, modification time) tells whether it
// changed, so a call does not read and hash it; verified is when the
// version was last read, and a file modified less than a second before that
// is read again (its modification time may not tell a write in the same
// tick of the file system's clock).
type cachedClients struct {
	info     fs.FileInfo
	verified time.Time
	version  string
	clients  *Clients
}

// unchanged tells whether info is the file the clients were built from.
func (c cachedClients) unchanged(info fs.FileInfo) bool {
	return os.SameFile(c.info, info) && c.info.Size() == info.Size() && c.info.ModTime().Equal(info.ModTime()) &&
		info.ModTime().Before(c.verified.Add(-time.Second))
}

// NewRegistry builds a registry over a store and a credential folder.
func NewRegistry(st *store.Store, creds *CredentialStore, opts RegistryOptions) *Registry {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.Clients.Logger = opts.Logger
	return &Registry{store: st, creds: creds, opts: opts, clients: map[string]cachedClients{}}
}

// Credentials is the credential folder.
func (r *Registry) Credentials() *CredentialStore { return r.creds }

// Put creates or updates the record of rec.ID for the caller's organization.
func (r *Registry) Put(ctx context.Context, org string, rec Record) (_ *Record, created bool, err error) {
	if rec.Organization == "" {
		rec.Organization = org
	}
	if rec.Organization != org {
		return nil, false, ErrOrganizationMismatch
	}
	if err := rec.Normalize(); err != nil {
		return nil, false, err
	}
	// An id taken by another organization is answered as if it did not exist.
	if existing, err := r.store.GetCluster(ctx, "", rec.ID); err == nil && existing.Organization != org {
		return nil, false, ErrNotFound
	}
	row, err := toRow(&rec)
	if err != nil {
		return nil, false, err
	}
	if created, err = r.store.PutCluster(ctx, row); errors.Is(err, store.ErrNotFound) {
		return nil, false, ErrNotFound
	} else if err != nil {
		return nil, false, fmt.Errorf("cluster %q: %w", rec.ID, err)
	}
	out, err := fromRow(row)
	return out, created, err
}

// Get returns the record of id if it belongs to org (any organization when org is empty).
func (r *Registry) Get(ctx context.Context, org, id string) (*Record, error) {
	row, err := r.store.GetCluster(ctx, org, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("cluster %q: %w", id, err)
	}
	return fromRow(row)
}

// List returns the records of org (all when empty), by id.
func (r *Registry) List(ctx context.Context, org string) ([]*Record, error) {
	rows, err := r.store.ListClusters(ctx, org)
	if err != nil {
		return nil, err
	}
	out := make([]*Record, 0, len(rows))
	for i := range rows {
		rec, err := fromRow(&rows[i])
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// Delete forgets the cluster and its credential; objects in the cluster stay.
func (r *Registry) Delete(ctx context.Context, org, id string) error {
	rec, err := r.Get(ctx, org, id)
	if err != nil {
		return err
	}
	ev := NewEvent(EventRecordDeleted, rec, map[string]any{"uid": rec.UID})
	ev.ClusterUID = rec.UID
	if err := r.store.DeleteCluster(ctx, org, id, ev); errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	} else if err != nil {
		return fmt.Errorf("cluster %q: %w", id, err)
	}
	r.dropClients(id)
	return r.creds.Delete(id)
}

// Clients returns the cluster's clients, built from its current credential.
// A replaced credential file yields new clients on the next call; an
// unchanged one costs a stat, not a read.
func (r *Registry) Clients(id string) (*Clients, error) {
	info, err := r.creds.Stat(id)
	if err != nil {
		return nil, err
	}
	if info == nil {
		r.dropClients(id)
		return nil, ErrNoCredentials
	}
	r.mu.Lock()
	cached, ok := r.clients[id]
	r.mu.Unlock()
	if ok && cached.unchanged(info) {
		return cached.clients, nil
	}
	// The wall clock, not opts.Now: it is compared with the file system's.
	verified := time.Now()
	cred, version, err := r.creds.Load(id)
	if err != nil {
		return nil, err
	}
	if ok && cached.version == version {
		// Touched or rewritten with the same content: same clients.
		r.mu.Lock()
		r.clients[id] = cachedClients{info: info, verified: verified, version: version, clients: cached.clients}
		r.mu.Unlock()
		return cached.clients, nil
	}
	c, err := NewClients(id, cred.RESTConfig(), r.opts.Clients)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if old, ok := r.clients[id]; ok {
		old.clients.Close()
	}
	r.clients[id] = cachedClients{info: info, verified: verified, version: version, clients: c}
	r.mu.Unlock()
	if ok {
		r.opts.Logger.Info("credential changed on disk; clients rebuilt", "cluster", id)
	}
	return c, nil
}

// Credential loads the cluster's stored credential (ErrNoCredentials when
// there is none).
func (r *Registry) Credential(id string) (*Credential, error) {
	cred, _, err := r.creds.Load(id)
	return cred, err
}

// HasCredential tells whether a credential is stored for the cluster.
func (r *Registry) HasCredential(id string) bool {
	info, err := r.creds.Stat(id)
	return err == nil && info != nil
}

// SaveCredential stores the cluster's credential (a renewed token); the
// next Clients call builds clients from it.
func (r *Registry) SaveCredential(id string, cred *Credential) error {
	return r.creds.Save(id, cred)
}

func (r *Registry) dropClients(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.clients[id]; ok {
		old.clients.Close()
		delete(r.clients, id)
	}
}

func toRow(rec *Record) (*store.Cluster, error) {
	labels, err := json.Marshal(rec.Labels)
	if err != nil {
		return nil, err
	}
	ns, _ := json.Marshal(rec.AllowedNamespaces)
	apps, _ := json.Marshal(rec.AllowedApplications)
	ops, _ := json.Marshal(rec.AllowedOperations)
	healthRules, _ := json.Marshal(rec.Health)
	return &store.Cluster{
		ID: rec.ID, Organization: rec.Organization, DisplayName: rec.DisplayName,
		Labels: string(labels), Connectivity: rec.Connectivity,
		AllowedNamespaces: string(ns), AllowedApplications: string(apps), AllowedOperations: string(ops),
		Health:        string(healthRules),
		DriftSchedule: rec.Drift.Schedule, DriftMode: rec.Drift.Mode, PublicKey: rec.PublicKey,
		RequirePodSecurity: rec.RequirePodSecurity, AcceptExcessRights: rec.AcceptExcessRights,
	}, nil
}

func fromRow(row *store.Cluster) (*Record, error) {
	rec := &Record{
		ID: row.ID, Organization: row.Organization, DisplayName: row.DisplayName, Connectivity: row.Connectivity,
		Drift: Drift{Schedule: row.DriftSchedule, Mode: row.DriftMode}, PublicKey: row.PublicKey,
		RequirePodSecurity: row.RequirePodSecurity, AcceptExcessRights: row.AcceptExcessRights, UID: row.UID,
		CreatedAt: row.CreatedAt.UTC(), UpdatedAt: row.UpdatedAt.UTC(),
	}
	fields := []struct {
		json string
		dst  any
	}{
		{row.Labels, &rec.Labels}, {row.AllowedNamespaces, &rec.AllowedNamespaces},
		{row.AllowedApplications, &rec.AllowedApplications}, {row.AllowedOperations, &rec.AllowedOperations},
		{row.Health, &rec.Health},
	}
	for _, f := range fields {
		if f.json == "" {
			continue
		}
		if err := json.Unmarshal([]byte(f.json), f.dst); err != nil {
			return nil, fmt.Errorf("cluster %q: stored record: %w", row.ID, err)
		}
	}
	rec.loaded()
	return rec, nil
}

// SetKubeconfig sanitises an uploaded kubeconfig and stores it as the
// cluster's credential (a *KubeconfigError says why one is refused).
func (r *Registry) SetKubeconfig(ctx context.Context, org, id string, kubeconfig []byte) error {
	rec, err := r.Get(ctx, org, id)
	if err != nil {
		return err
	}
	cred, err := ParseKubeconfig(kubeconfig)
	if err != nil {
		return err
	}
	if err := r.creds.Save(id, cred); err != nil {
		return err
	}
	r.opts.Logger.Info("credential stored", "cluster", id, "credential", cred)
	if err := r.store.AddEvent(ctx, CredentialEvent(rec, CredentialReplaced, cred)); err != nil {
		return fmt.Errorf("cluster %q: credential event: %w", id, err)
	}
	return nil
}
