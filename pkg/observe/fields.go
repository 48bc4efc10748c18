package observe

import (
	"bytes"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

// managedSet is the field set the manager owns in u through server-side
// apply (nil when it owns nothing that way). Update entries of the same
// manager are not pushd's applies and are left out.
func managedSet(u *unstructured.Unstructured, manager string) *fieldpath.Set {
	for _, e := range u.GetManagedFields() {
		if e.Manager != manager || e.Operation != metav1.ManagedFieldsOperationApply || e.Subresource != "" || e.FieldsV1 == nil {
			continue
		}
		s := &fieldpath.Set{}
		if err := s.FromJSON(bytes.NewReader(e.FieldsV1.Raw)); err != nil {
			return nil
		}
		return s
	}
	return nil
}

// owner is a manager that owns fields of an object.
type owner struct {
	manager string
	time    *time.Time
	set     *fieldpath.Set
}

// owners are the managedFields entries of u, pushd's own among them: a
// field pushd wrote since the reference's dry-run is pushd's.
func owners(u *unstructured.Unstructured) []owner {
	var out []owner
	for _, e := range u.GetManagedFields() {
		if e.Subresource != "" || e.FieldsV1 == nil {
			continue
		}
		s := &fieldpath.Set{}
		if err := s.FromJSON(bytes.NewReader(e.FieldsV1.Raw)); err != nil {
			continue
		}
		o := owner{manager: e.Manager, set: s}
		if e.Time != nil {
			t := e.Time.UTC()
			o.time = &t
		}
		out = append(out, o)
	}
	return out
}

// driftedFields compares want (pushd's applied state, a dry-run result) with
// live on the leaf fields of applied, the set pushd owns in want: only
// fields pushd set can drift. Each differing field is attributed to the
// manager that owns it in live now (the newest, when several share it),
// pushd included: with a job in progress nothing is checked, so a field
// pushd owns that differs was written by a job newer than the reference.
func driftedFields(want, live *unstructured.Unstructured, applied *fieldpath.Set) []DriftedField {
	var out []DriftedField
	var os []owner
	applied.Leaves().Iterate(func(p fieldpath.Path) {
		a, aok := lookup(want.Object, p)
		b, bok := lookup(live.Object, p)
		if aok == bok && (!aok || value.Equals(value.NewValueInterface(a), value.NewValueInterface(b))) {
			return
		}
		if os == nil {
			os = owners(live)
		}
		f := DriftedField{Path: p.String()}
		for _, o := range os {
			if !o.set.Has(p) || (f.ChangedAt != nil && o.time != nil && o.time.Before(*f.ChangedAt)) {
				continue
			}
			m := o.manager
			f.Manager, f.ChangedAt = &m, o.time
		}
		out = append(out, f)
	})
	return out
}

// resolves reports whether every leaf of s exists in obj.
func resolves(obj map[string]any, s *fieldpath.Set) bool {
	ok := true
	s.Leaves().Iterate(func(p fieldpath.Path) {
		if ok {
			_, ok = lookup(obj, p)
		}
	})
	return ok
}

// lookup finds the value at a structured-merge-diff path in an unstructured
// object: field names in maps, key fields or values in associative lists,
// indexes in atomic ones.
func lookup(obj map[string]any, p fieldpath.Path) (any, bool) {
	var cur any = obj
	for _, pe := range p {
		switch {
		case pe.FieldName != nil:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = m[*pe.FieldName]; !ok {
				return nil, false
			}
		case pe.Key != nil:
			l, ok := cur.([]any)
			if !ok {
				return nil, false
			}
			found := false
			for _, e := range l {
				em, ok := e.(map[string]any)
				if !ok {
					continue
				}
				match := true
				for _, f := range *pe.Key {
					v, ok := em[f.Name]
					if !ok || !value.Equals(value.NewValueInterface(v), f.Value) {
						match = false
						break
					}
				}
				if match {
					cur, found = em, true
					break
				}
			}
			if !found {
				return nil, false
			}
		case pe.Value != nil:
			l, ok := cur.([]any)
			if !ok {
				return nil, false
			}
			found := false
			for _, e := range l {
				if value.Equals(value.NewValueInterface(e), *pe.Value) {
					cur, found = e, true
					break
				}
			}
			if !found {
				return nil, false
			}
		case pe.Index != nil:
			l, ok := cur.([]any)
			if !ok || *pe.Index < 0 || *pe.Index >= len(l) {
				return nil, false
			}
			cur = l[*pe.Index]
		default:
			return nil, false
		}
	}
	return cur, true
}
