package apply

import (
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/vworkspace/pushd/pkg/clusters"
)

// clientGetter hands cli-utils and kubectl the cluster's shared clients
// instead of letting them build their own from a kubeconfig.
type clientGetter struct{ c *clusters.Clients }

var _ genericclioptions.RESTClientGetter = clientGetter{}

// ToRESTConfig returns a copy, so callers may set fields; the copy shares
// the cluster's rate limiter.
func (g clientGetter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.c.Config), nil }

func (g clientGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return g.c.Discovery, nil
}

func (g clientGetter) ToRESTMapper() (meta.RESTMapper, error) { return g.c.Mapper, nil }

// ToRawKubeConfigLoader is an empty in-memory config: kubectl code that asks
// for "the kubeconfig" must never find ~/.kube/config or $KUBECONFIG, which
// could name another cluster or carry another credential.
func (g clientGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return clientcmd.NewDefaultClientConfig(*clientcmdapi.NewConfig(), &clientcmd.ConfigOverrides{})
}

// factory is kubectl's Factory over clientGetter with the client builders
// cli-utils calls replaced by ones on the cluster's shared HTTP client.
// kubectl's own build a new REST client, connection pool and (without a
// shared limiter) token bucket per call, i.e. per applied object.
type factory struct {
	cmdutil.Factory
	c *clusters.Clients
}

var _ cmdutil.Factory = (*factory)(nil)

func newFactory(c *clusters.Clients) *factory {
	return &factory{Factory: cmdutil.NewFactory(clientGetter{c}), c: c}
}

func (f *factory) DynamicClient() (dynamic.Interface, error) { return f.c.Dynamic, nil }

func (f *factory) KubernetesClientSet() (*kubernetes.Clientset, error) {
	return kubernetes.NewForConfigAndClient(rest.CopyConfig(f.c.Config), f.c.HTTP)
}

// UnstructuredClientForMapping is kubectl's, on the shared HTTP client.
func (f *factory) UnstructuredClientForMapping(mapping *meta.RESTMapping) (resource.RESTClient, error) {
	cfg := rest.CopyConfig(f.c.Config)
	if err := rest.SetKubernetesDefaults(cfg); err != nil {
		return nil, err
	}
	cfg.APIPath = "/apis"
	if mapping.GroupVersionKind.Group == "" {
		cfg.APIPath = "/api"
	}
	gv := mapping.GroupVersionKind.GroupVersion()
	cfg.ContentConfig = resource.UnstructuredPlusDefaultContentConfig()
	cfg.GroupVersion = &gv
	return rest.RESTClientForConfigAndClient(cfg, f.c.HTTP)
}
