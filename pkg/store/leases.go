package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Cluster leases: which replica observes which cluster.
//
// Each cluster's probes, status polls and drift checks run on one replica
// at a time, the holder of its lease. A lease is a row taken with a
// conditional UPDATE (the same pattern as job and event claims: of several
// replicas racing, exactly one update matches), renewed by its holder well
// before it expires, and taken over once expired. Every takeover increases
// the lease's Token, and every write made under a lease checks, first thing
// in its transaction, that the lease is still held with that token (see
// WithFence): the check locks the lease row, so a takeover and a write
// under the old token are ordered — the write commits before the takeover,
// or it finds the token changed and is dropped. A holder that stalled past
// its lease (a long GC pause, a frozen VM) therefore writes nothing once
// another replica has taken over.
//
// Lease rows are never deleted, not even with their cluster: a token must
// never repeat for a cluster id, or a stale holder of a deleted record's
// lease could pass the fence of a record created again under that id.

// ErrLeaseLost: a write made under a cluster lease found the lease taken
// over (or released); nothing was written.
var ErrLeaseLost = errors.New("cluster lease lost")

// ClusterLease is the lease on one cluster's background work.
type ClusterLease struct {
	Cluster string `gorm:"primaryKey;size:63"`
	// Holder is the replica holding the lease; empty when released.
	Holder string `gorm:"size:64;not null;default:''"`
	// Token increases at every acquisition: the fence of writes made
	// under the lease.
	Token     int64     `gorm:"not null"`
	ExpiresAt time.Time `gorm:"not null"`
	// CheckRequested: a drift check was asked through a replica that does
	// not hold the lease; the holder runs it (TakeCheckRequests).
	CheckRequested bool `gorm:"not null;default:false"`
}

// Replica is a pushd process sharing the database, known by its
// heartbeat: replicas seen within a lease duration are live, and the
// clusters are shared among the live ones.
type Replica struct {
	ID        string `gorm:"primaryKey;size:64"`
	Host      string `gorm:"size:255"`
	PID       int
	StartedAt time.Time
	SeenAt    time.Time `gorm:"index;not null"`
}

// addClusterLeases is migration 10: the lease and heartbeat tables, and
// the breaker columns of cluster statuses — a replica that does not probe a
// cluster reads its breaker from the holder's last probe.
func addClusterLeases(tx *gorm.DB) error {
	if err := tx.Migrator().CreateTable(&ClusterLease{}, &Replica{}); err != nil {
		return err
	}
	for _, field := range []string{"Breaker", "BreakerRetryAt"} {
		if tx.Migrator().HasColumn(&ClusterStatus{}, field) {
			continue // a database created at version 2 with today's ClusterStatus has it
		}
		if err := tx.Migrator().AddColumn(&ClusterStatus{}, field); err != nil {
			return err
		}
	}
	return nil
}

// Lease is a lease a replica holds: what its writes are fenced with.
type Lease struct {
	Cluster string
	Holder  string
	Token   int64
}

// Heartbeat records that the replica is alive at now and forgets replicas
// not seen for a day.
func (s *Store) Heartbeat(ctx context.Context, r Replica, now time.Time) error {
	r.SeenAt = now.UTC()
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, DoUpdates: clause.AssignmentColumns([]string{"seen_at"})}).
			Create(&r).Error; err != nil {
			return err
		}
		return tx.Where("seen_at < ?", r.SeenAt.Add(-24*time.Hour)).Delete(&Replica{}).Error
	})
}

// LiveReplicas counts the replicas seen after since.
func (s *Store) LiveReplicas(ctx context.Context, since time.Time) (int, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&Replica{}).Where("seen_at > ?", since.UTC()).Count(&n).Error
	return int(n), err
}

// ClusterLeases lists every lease row, by cluster.
func (s *Store) ClusterLeases(ctx context.Context) ([]ClusterLease, error) {
	var rows []ClusterLease
	return rows, s.db.WithContext(ctx).Order("cluster").Find(&rows).Error
}

// AcquireLease takes the cluster's lease for holder until now+ttl when it
// is free: never held, released, or expired at now. ok is false when
// another holder's lease is still running.
func (s *Store) AcquireLease(ctx context.Context, cluster, holder string, now time.Time, ttl time.Duration) (l Lease, ok bool, err error) {
	now = now.UTC()
	db := s.db.WithContext(ctx)
	fresh := ClusterLease{Cluster: cluster, Holder: holder, Token: 1, ExpiresAt: now.Add(ttl)}
	res := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&fresh)
	if res.Error != nil {
		return Lease{}, false, fmt.Errorf("cluster %q: acquire lease: %w", cluster, res.Error)
	}
	if res.RowsAffected == 0 {
		res = db.Model(&ClusterLease{}).Where("cluster = ? AND (holder = '' OR expires_at <= ?)", cluster, now).
			Updates(map[string]any{"holder": holder, "token": gorm.Expr("token + 1"), "expires_at": now.Add(ttl)})
		if res.Error != nil {
			return Lease{}, false, fmt.Errorf("cluster %q: acquire lease: %w", cluster, res.Error)
		}
		if res.RowsAffected == 0 {
			return Lease{}, false, nil
		}
	}
	var row ClusterLease
	switch err := db.Where("cluster = ? AND holder = ?", cluster, holder).Take(&row).Error; {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return Lease{}, false, nil // taken over already: it expired as soon as taken
	case err != nil:
		return Lease{}, false, fmt.Errorf("cluster %q: read lease: %w", cluster, err)
	}
	return Lease{Cluster: cluster, Holder: holder, Token: row.Token}, true, nil
}

// RenewLeases extends every lease holder holds to until and returns them,
// by cluster: a lease the holder believes it has and that is missing here
// was taken over.
func (s *Store) RenewLeases(ctx context.Context, holder string, until time.Time) (map[string]Lease, error) {
	out := map[string]Lease{}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&ClusterLease{}).Where("holder = ?", holder).Update("expires_at", until.UTC()).Error; err != nil {
			return err
		}
		var rows []ClusterLease
		if err := tx.Where("holder = ?", holder).Find(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			out[r.Cluster] = Lease{Cluster: r.Cluster, Holder: holder, Token: r.Token}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("replica %q: renew leases: %w", holder, err)
	}
	return out, nil
}

// ReleaseLease gives a lease up at once (shutdown, or a replica holding
// more than its share), so another replica need not wait for it to expire.
// A lease taken over meanwhile is left alone.
func (s *Store) ReleaseLease(ctx context.Context, l Lease, now time.Time) error {
	err := s.db.WithContext(ctx).Model(&ClusterLease{}).Where("cluster = ? AND holder = ? AND token = ?", l.Cluster, l.Holder, l.Token).
		Updates(map[string]any{"holder": "", "expires_at": now.UTC()}).Error
	if err != nil {
		return fmt.Errorf("cluster %q: release lease: %w", l.Cluster, err)
	}
	return nil
}

// RequestCheck asks the holder of the cluster's lease, whichever replica
// it is (or the next one to take it), for a drift check.
func (s *Store) RequestCheck(ctx context.Context, cluster string, now time.Time) error {
	row := ClusterLease{Cluster: cluster, ExpiresAt: now.UTC(), CheckRequested: true} // a new row is free at once
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "cluster"}},
		DoUpdates: clause.Assignments(map[string]any{"check_requested": true})}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("cluster %q: request drift check: %w", cluster, err)
	}
	return nil
}

// TakeCheckRequests returns the clusters of holder's leases whose drift
// check was requested through another replica, and clears the requests.
func (s *Store) TakeCheckRequests(ctx context.Context, holder string) ([]string, error) {
	var out []string
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var ids []string
		if err := tx.Model(&ClusterLease{}).Where("holder = ? AND check_requested", holder).Order("cluster").Pluck("cluster", &ids).Error; err != nil {
			return err
		}
		for _, id := range ids {
			res := tx.Model(&ClusterLease{}).Where("cluster = ? AND holder = ? AND check_requested", id, holder).Update("check_requested", false)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 1 {
				out = append(out, id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("replica %q: drift check requests: %w", holder, err)
	}
	return out, nil
}

type fenceKey struct{}

type generationKey struct{}

type generation struct{ cluster, uid string }

// ErrGenerationGone: a write made for a record's generation found the
// record deleted (or the id registered again) meanwhile; nothing was written.
var ErrGenerationGone = errors.New("the cluster's record is no longer the one the work was for")

// WithGeneration marks ctx as work done for the record generation uid of
// the cluster: the same writes WithFence guards first check that the
// record still exists with that generation, and fail with
// ErrGenerationGone, writing nothing, when it does not — so a poll or check
// in flight when the record is deleted leaves nothing of it behind.
func WithGeneration(ctx context.Context, cluster, uid string) context.Context {
	return context.WithValue(ctx, generationKey{}, generation{cluster, uid})
}

// WithFence marks ctx as work done under l: every write of observed state
// made with it (cluster statuses, application states, their events, a
// correction job) first checks that l is still held with its token, and
// fails with ErrLeaseLost, writing nothing, when it is not.
func WithFence(ctx context.Context, l Lease) context.Context {
	return context.WithValue(ctx, fenceKey{}, l)
}

// FenceOf is the lease ctx is fenced by, if any.
func FenceOf(ctx context.Context) (Lease, bool) {
	l, ok := ctx.Value(fenceKey{}).(Lease)
	return l, ok
}

// checkFence is the first statement of a fenced write's transaction. The
// no-op UPDATE locks the lease row until the transaction ends, so a
// takeover waits for the write (and a write after a takeover sees the new
// token). Without a fence in ctx it does nothing.
func checkFence(ctx context.Context, tx *gorm.DB) error {
	if g, ok := ctx.Value(generationKey{}).(generation); ok {
		// Locks the record's row too, so a delete waits for the write.
		res := tx.Exec("UPDATE clusters SET uid = uid WHERE id = ? AND uid = ?", g.cluster, g.uid)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("cluster %q: generation %s: %w", g.cluster, g.uid, ErrGenerationGone)
		}
	}
	l, ok := ctx.Value(fenceKey{}).(Lease)
	if !ok {
		return nil
	}
	res := tx.Exec("UPDATE cluster_leases SET token = token WHERE cluster = ? AND holder = ? AND token = ?", l.Cluster, l.Holder, l.Token)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("cluster %q: token %d: %w", l.Cluster, l.Token, ErrLeaseLost)
	}
	return nil
}
