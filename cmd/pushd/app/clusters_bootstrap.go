package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/vworkspace/pushd/pkg/clusters/bootstrap"
	"github.com/vworkspace/pushd/pkg/store"
)

// clustersBootstrap is `pushd clusters bootstrap`: with an administrator's
// kubeconfig, used once, it mints a least-privilege ServiceAccount
// credential for a cluster's record, stores it and probes it.
type clustersBootstrap struct {
	admin
	adminKubeconfig, clusterID, namespaces, saNamespace string
	ttl                                                 time.Duration
}

func (c *clustersBootstrap) flags(fs *flag.FlagSet) map[string]string {
	fs.StringVar(&c.adminKubeconfig, "admin-kubeconfig", "", "an administrator's kubeconfig, used once to create pushd's ServiceAccount and RBAC")
	fs.StringVar(&c.clusterID, "cluster", "", "the cluster id (its record must exist)")
	fs.StringVar(&c.namespaces, "namespaces", "", "comma-separated namespaces to grant (default: the record's allowed namespaces)")
	fs.StringVar(&c.saNamespace, "service-account-namespace", "", "where the record's ServiceAccount (pushd-ID) lives (default vworkspace-pushd)")
	fs.DurationVar(&c.ttl, "token-ttl", 24*time.Hour, "lifetime of the minted token; pushd renews it before it expires")
	return c.bindState(fs, 0)
}

func (c *clustersBootstrap) validate(x *call) error {
	if c.adminKubeconfig == "" || c.clusterID == "" {
		return x.usageError(errors.New("clusters bootstrap: --admin-kubeconfig and --cluster are required"))
	}
	return nil
}

func (c *clustersBootstrap) do(ctx context.Context, x *call, env *adminEnv) error {
	rec, err := env.registry.Get(ctx, "", c.clusterID)
	if err != nil {
		return fmt.Errorf("cluster %q: %w (add it first: pushd clusters add %s --namespaces …)", c.clusterID, err, c.clusterID)
	}
	// The administrator's own kubeconfig, at their own terminal: loaded the
	// way kubectl would (it may use exec plugins), used once, never stored.
	adminConfig, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: c.adminKubeconfig}, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return fmt.Errorf("--admin-kubeconfig: %w", err)
	}
	nss := rec.AllowedNamespaces
	if c.namespaces != "" {
		nss = splitList(c.namespaces)
	}
	res, err := bootstrap.Run(ctx, adminConfig, bootstrap.Options{
		ClusterID: rec.ID, Namespaces: nss, ServiceAccountNamespace: c.saNamespace, TokenTTL: c.ttl,
	})
	if err != nil {
		env.audit(ctx, rec.Organization, store.AuditCredentialBootstrap, rec.ID, "", err)
		return err
	}
	for _, ns := range res.Granted {
		fmt.Fprintf(x.io.out, "granted   %s\n", ns)
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(x.io.out, "skipped   %s: %s\n", s.Name, s.Reason)
	}
	err = env.registry.Credentials().Save(rec.ID, res.Credential)
	env.audit(ctx, rec.Organization, store.AuditCredentialBootstrap, rec.ID, "", err)
	if err != nil {
		return err
	}
	fmt.Fprintf(x.io.out, "credential stored for %s (token expires %s; pushd renews it)\n", rec.ID, res.Expiry.Format(time.RFC3339))
	return check(ctx, env, rec.Organization, rec.ID, x.io)
}
