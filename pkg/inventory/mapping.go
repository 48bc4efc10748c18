package inventory

import (
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// RESTMapping resolves a kind (at version, or its preferred version when
// empty), resetting the mapper's discovery once per pass when the kind is
// unknown: a CRD may have been installed since discovery was cached. reset
// carries "already reset" across the calls of one pass (one apply run, one
// poll), so a kind that is really unknown costs one rediscovery, not one
// per object.
func RESTMapping(m meta.ResettableRESTMapper, gk schema.GroupKind, version string, reset *bool) (*meta.RESTMapping, error) {
	var versions []string
	if version != "" {
		versions = []string{version}
	}
	mapping, err := m.RESTMapping(gk, versions...)
	if meta.IsNoMatchError(err) && !*reset {
		*reset = true
		m.Reset()
		mapping, err = m.RESTMapping(gk, versions...)
	}
	return mapping, err
}
