package api

import (
	"fmt"
	"net/http"
	"strings"
)

// Cluster ids are one namespace per pushd: they are stamped on every object
// pushd writes, so two records cannot share one. When pushd serves more than
// one organization, the answer to creating an id must not tell whether
// another organization holds it. The id space is therefore partitioned: an
// id belongs to the organization whose prefix ("<organization>-", lower
// case, "." and "_" as "-") is the longest one it begins with, and only that
// organization can create it. Whether an id of another organization's space
// is taken is never looked up for the caller, so held and free ids answer
// alike.

// idPrefix is the cluster-id prefix of an organization.
func idPrefix(org string) string {
	return strings.NewReplacer(".", "-", "_", "-").Replace(strings.ToLower(org)) + "-"
}

// idSpace maps cluster ids to the organization whose space they are in. It
// is empty (every id is free for any caller) with one organization.
type idSpace struct {
	prefixes map[string]string // prefix → organization
}

func newIDSpace(orgs []string) (idSpace, error) {
	if len(orgs) < 2 {
		return idSpace{}, nil
	}
	s := idSpace{prefixes: map[string]string{}}
	for _, org := range orgs {
		p := idPrefix(org)
		if other, ok := s.prefixes[p]; ok {
			return idSpace{}, fmt.Errorf("organizations %q and %q: both give the cluster-id prefix %q; rename one", other, org, p)
		}
		s.prefixes[p] = org
	}
	return s, nil
}

// owner returns the organization whose space id is in, or "" for none.
func (s idSpace) owner(id string) string {
	best, org := 0, ""
	for p, o := range s.prefixes {
		if len(p) > best && strings.HasPrefix(id, p) {
			best, org = len(p), o
		}
	}
	return org
}

// admits reports whether org may create id. held says whether org already
// holds the record: a record created before the partition (or while pushd
// served one organization) keeps its id.
func (s idSpace) admits(org, id string, held bool) *Error {
	if s.prefixes == nil || held || s.owner(id) == org {
		return nil
	}
	return &Error{Status: http.StatusUnprocessableEntity, Code: "cluster_id_outside_organization",
		Message: fmt.Sprintf("cluster ids of organization %q begin with %q", org, idPrefix(org))}
}
