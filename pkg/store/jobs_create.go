package store

import (
	"context"
	"errors"
	"sync"

	"gorm.io/gorm"
)

// maxCreateBatch bounds the jobs one commit takes, so the caller that
// commits for the others is not held for long.
const maxCreateBatch = 256

// createBatcher is group commit for CreateJob. Durability costs one fsync
// per commit (SQLite synchronous=FULL, PostgreSQL's WAL flush), and a commit
// takes the same time for one job as for a hundred; one at a time, that
// fsync bounded intake at about 200 jobs/s (README, Performance). So the
// first caller commits at once; callers arriving meanwhile queue, and when
// the commit ends one of them commits the whole queue in one transaction.
// No timer, no background goroutine: a lone caller never waits for company.
//
// Each job is written under its own savepoint, so one job that fails (its
// id was taken by another process) is rolled back alone and the others
// still commit.
type createBatcher struct {
	mu         sync.Mutex
	pending    []*createCall
	committing bool
	// commits counts the transactions, for tests that check the grouping.
	commits int
}

type createCall struct {
	job      *Job
	events   []*Event
	existing *Job // set when the id was taken
	err      error
	done     chan struct{}
}

func (b *createBatcher) create(ctx context.Context, db *gorm.DB, c *createCall) (*Job, error) {
	c.done = make(chan struct{})
	b.mu.Lock()
	b.pending = append(b.pending, c)
	leader := !b.committing
	if leader {
		b.committing = true
	}
	b.mu.Unlock()
	if leader {
		b.commitAll(context.WithoutCancel(ctx), db)
	}
	<-c.done
	if errors.Is(c.err, ErrJobExists) {
		return c.existing, c.err
	}
	if c.err != nil && isUniqueViolation(c.err) {
		var existing Job
		if e2 := db.WithContext(ctx).Where("organization = ? AND id = ?", c.job.Organization, c.job.ID).Take(&existing).Error; e2 == nil {
			return &existing, ErrJobExists
		}
	}
	return c.job, c.err
}

// commitAll commits queued calls, a batch at a time, until none is left.
// The leader commits with its own context freed from cancellation: the
// batch holds other callers' jobs.
func (b *createBatcher) commitAll(ctx context.Context, db *gorm.DB) {
	for {
		b.mu.Lock()
		n := min(len(b.pending), maxCreateBatch)
		if n == 0 {
			b.committing = false
			b.mu.Unlock()
			return
		}
		batch := b.pending[:n:n]
		b.pending = b.pending[n:]
		b.commits++
		b.mu.Unlock()

		err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			for _, c := range batch {
				c.err = tx.Transaction(func(tx *gorm.DB) error { return createOne(tx, c) }) // a savepoint each
			}
			return nil
		})
		for _, c := range batch {
			if err != nil && c.err == nil {
				c.err = err
			}
			close(c.done)
		}
	}
}

// createOne writes one job and its events unless its id is taken.
func createOne(tx *gorm.DB, c *createCall) error {
	var existing Job
	err := tx.Where("organization = ? AND id = ?", c.job.Organization, c.job.ID).Take(&existing).Error
	if err == nil {
		c.existing = &existing
		return ErrJobExists
	}
	if !errors.Is(err, gorm.ErrRecordNotFound) {
		return err
	}
	if err := tx.Create(c.job).Error; err != nil {
		return err
	}
	return addEvents(tx, c.events)
}
