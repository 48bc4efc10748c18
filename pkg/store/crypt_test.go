package store

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/pkg/store/sealed"
)

// secretManifest is a job's manifests holding a recognisable Secret value.
const secretManifest = `[{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db","namespace":"ns"},"stringData":{"password":"s3cr3t-canary-7781"}}]`

func keyring(t *testing.T, ids ...string) (*sealed.Keyring, []sealed.Key) {
	t.Helper()
	var keys []sealed.Key
	for _, id := range ids {
		k := sealed.Key{ID: id, Secret: make([]byte, sealed.KeySize)}
		rand.Read(k.Secret)
		keys = append(keys, k)
	}
	r, err := sealed.New(keys)
	if err != nil {
		t.Fatal(err)
	}
	return r, keys
}

func openWith(t *testing.T, db dbtest.Database, keys []sealed.Key) *Store {
	t.Helper()
	r, err := sealed.New(keys)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), db.Driver, db.DSN, Options{ManifestKeys: r})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rawManifests reads the column with plain SQL, past the store's opening.
func rawManifests(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	if err := s.db.Raw("SELECT manifests FROM jobs ORDER BY seq").Scan(&out).Error; err != nil {
		t.Fatal(err)
	}
	return out
}

// TestManifestsSealedAtRest: with a key, the stored column holds no
// Secret value while every read gives the manifests back; a row written
// before a key was configured still reads; with a second key first, both
// read and rekey moves every row to it; without the key a row is sealed
// with, reading it fails naming the key.
func TestManifestsSealedAtRest(t *testing.T) {
	dbtest.EachContext(t, func(t *testing.T, ctx context.Context, db dbtest.Database) {
		// "k_1" would match "kx1" as a LIKE pattern: rekey must not take one for the other.
		_, oldKeys := keyring(t, "kx1")
		_, newKeys := keyring(t, "k_1")

		plain := openWith(t, db, nil)
		c := &Cluster{ID: "c-1", Organization: "acme"}
		if _, err := plain.PutCluster(ctx, c); err != nil {
			t.Fatal(err)
		}
		job := func(id string) *Job {
			return &Job{Organization: "acme", ID: id, Cluster: "c-1", ClusterUID: c.UID, Namespace: "ns", Application: "app",
				Action: "apply", Manifests: secretManifest, Status: JobQueued}
		}
		if _, err := plain.CreateJob(ctx, job("before-key")); err != nil {
			t.Fatal(err)
		}

		s := openWith(t, db, oldKeys)
		created, err := s.CreateJob(ctx, job("sealed-1"))
		if err != nil || created.Manifests != secretManifest {
			t.Fatalf("create gives back the plain manifests: %q %v", created.Manifests, err)
		}
		raw := rawManifests(t, s)
		if raw[0] != secretManifest || !strings.HasPrefix(raw[1], "enc:v1:kx1:") || strings.Contains(raw[1], "canary") {
			t.Fatalf("stored column: %q", raw)
		}
		got, err := s.GetJob(ctx, "acme", "sealed-1")
		if err != nil || got.Manifests != secretManifest {
			t.Fatalf("get: %+v %v", got, err)
		}
		list, err := s.ListJobs(ctx, JobFilter{Organization: "acme", Limit: 10})
		if err != nil || len(list) != 2 || list[0].Manifests != secretManifest || list[1].Manifests != secretManifest {
			t.Fatalf("list: %+v %v", list, err)
		}
		claimed, err := s.ClaimJob(ctx, "c-1", "w", time.Now(), time.Minute)
		if err != nil || claimed == nil || claimed.Manifests != secretManifest {
			t.Fatalf("claim: %+v %v", claimed, err)
		}

		// Rotation: the new key first, the old one still listed.
		both := openWith(t, db, append(append([]sealed.Key{}, newKeys...), oldKeys...))
		if got, err := both.GetJob(ctx, "acme", "sealed-1"); err != nil || got.Manifests != secretManifest {
			t.Fatalf("read with the old key second: %v", err)
		}
		res, err := both.RekeyManifests(ctx)
		if err != nil || res.Resealed != 2 || res.Key != "k_1" || res.Left != 0 {
			t.Fatalf("rekey: %+v %v", res, err)
		}
		for _, v := range rawManifests(t, both) {
			if !strings.HasPrefix(v, "enc:v1:k_1:") {
				t.Fatalf("after rekey: %q", v)
			}
		}
		if res, err := both.RekeyManifests(ctx); err != nil || res.Resealed != 0 {
			t.Fatalf("rekey again: %+v %v", res, err)
		}

		onlyNew := openWith(t, db, newKeys)
		if list, err := onlyNew.ListJobs(ctx, JobFilter{Limit: 10}); err != nil || len(list) != 2 || list[1].Manifests != secretManifest {
			t.Fatalf("the old key dropped after rekey: %v", err)
		}
		onlyOld := openWith(t, db, oldKeys)
		_, err = onlyOld.GetJob(ctx, "acme", "sealed-1")
		if !errors.Is(err, sealed.ErrUnknownKey) || !strings.Contains(err.Error(), `"k_1"`) || !strings.Contains(err.Error(), "sealed-1") {
			t.Fatalf("a missing key: %v", err)
		}
		if _, err := plain.LatestJob(ctx, c.UID, "ns", "app"); !errors.Is(err, sealed.ErrUnknownKey) {
			t.Fatalf("no key at all: %v", err)
		}
	})
}
