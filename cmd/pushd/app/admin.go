package app

import (
	"context"
	"flag"
	"io"
	"log/slog"

	"k8s.io/klog/v2"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/config"
	"github.com/vworkspace/pushd/pkg/fleet"
	"github.com/vworkspace/pushd/pkg/health"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/store"
)

// TriggerCLI marks the jobs submitted with `pushd jobs submit`.
const TriggerCLI = "cli"

// admin is embedded in the flags of every admin command: the settings of
// the database, manifest keys and kubeconfig folder `pushd serve` uses.
type admin struct {
	cfg config.Config
}

func (a *admin) state() *admin { return a }

// bindState binds the settings of scopeState and of s.
func (a *admin) bindState(fs *flag.FlagSet, s scope) map[string]string {
	a.cfg = config.Default()
	return bindSettings(fs, scopeState|s, &a.cfg, nil)
}

// organizationFlag binds --organization, the organization what names
// belongs to.
func organizationFlag(fs *flag.FlagSet, p *string, what string) {
	fs.StringVar(p, "organization", config.DefaultOrganization, "the organization the "+what+" belongs to")
}

// adminEnv is what an admin command works on.
type adminEnv struct {
	store    *store.Store
	registry *clusters.Registry
	monitor  *health.Monitor
	// jobs checks jobs against the allowed kinds of the command's settings.
	jobs *jobs.Service
	// fleet runs the cluster use cases the API runs too.
	fleet *fleet.Service
	// user names the person at the terminal in the audit log (audit.go).
	user   string
	stderr io.Writer
}

// open opens the store and credentials the settings name, for the person
// at the terminal of c.
func (a *admin) open(ctx context.Context, c *call) (*adminEnv, error) {
	quietKlog()
	db, err := config.ParseDatabaseURL(a.cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	keys, err := a.cfg.ManifestKeyring()
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, db.Driver, db.DSN, store.Options{ManifestKeys: keys})
	if err != nil {
		return nil, err
	}
	creds, err := clusters.NewCredentialStore(a.cfg.KubeconfigDir)
	if err != nil {
		st.Close()
		return nil, err
	}
	reg := clusters.NewRegistry(st, creds, clusters.RegistryOptions{})
	mon := health.NewMonitor(reg, st, health.MonitorOptions{})
	queue := jobs.NewService(st, reg, mon, jobs.ServiceOptions{AllowedKinds: groupKinds(a.cfg.AllowedKinds), Trigger: TriggerCLI})
	return &adminEnv{store: st, registry: reg, monitor: mon, jobs: queue, fleet: fleet.New(reg, mon, queue, fleet.Options{}),
		user: localUser(c.getenv), stderr: c.io.err}, nil
}

func (e *adminEnv) close() { e.store.Close() }

// quietKlog silences client-go for the admin commands: they report what
// went wrong in their own one-line error, and client-go's retries and
// discovery complaints (memcache.go, reflector.go) are noise on a terminal.
func quietKlog() {
	klog.SetSlogLogger(slog.New(slog.DiscardHandler))
}
