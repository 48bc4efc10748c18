package apply

import (
	"log/slog"
	"sync"

	"github.com/vworkspace/pushd/pkg/clusters"
)

// Clients gives a cluster's current clients (*clusters.Registry).
type Clients interface {
	Clients(id string) (*clusters.Clients, error)
}

var _ Clients = (*clusters.Registry)(nil)

// Engines builds one Engine per cluster and keeps it while the cluster's
// clients stay the same: an engine holds the cluster's discovery cache and
// kubectl factory, so it is built once, not per job, and rebuilt only when a
// new credential gave the cluster new clients.
type Engines struct {
	clients Clients
	opts    Options

	mu    sync.Mutex
	built map[string]builtEngine
}

type builtEngine struct {
	clients *clusters.Clients
	engine  *Engine
}

// NewEngines builds engines with opts over the clusters' clients; each
// engine logs with its cluster's id.
func NewEngines(clients Clients, opts Options) *Engines {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Engines{clients: clients, opts: opts, built: map[string]builtEngine{}}
}

// Engine returns the cluster's engine (clusters.ErrNoCredentials without a
// credential).
func (e *Engines) Engine(cluster string) (*Engine, error) {
	c, err := e.clients.Clients(cluster)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if b, ok := e.built[cluster]; ok && b.clients == c {
		return b.engine, nil
	}
	opts := e.opts
	opts.Logger = e.opts.Logger.With("cluster", cluster)
	eng, err := New(c, opts)
	if err != nil {
		return nil, err
	}
	e.built[cluster] = builtEngine{clients: c, engine: eng}
	return eng, nil
}
