package store

import (
	"context"
	"sync"

	"gorm.io/gorm"
)

// maxGroup bounds the writes one commit takes, so the caller that commits
// for the others is not held for long.
const maxGroup = 256

// groupCommit is group commit for the writes of intake (a message begun,
// a job created, a message finished). Durability costs one fsync per
// commit (SQLite synchronous=FULL, PostgreSQL's WAL flush), and a commit
// takes about as long for one write as for a hundred; one at a time, three
// fsyncs per submission bounded intake at about 200 jobs/s (README,
// Performance). So the first caller commits at once; callers arriving
// meanwhile queue, and when the commit ends one of them commits the whole
// queue in one transaction. No timer, no background goroutine: a lone
// caller never waits for company.
//
// Each write runs under its own savepoint, so one that fails (its id was
// taken by another process) is rolled back alone and the others commit.
type groupCommit struct {
	mu         sync.Mutex
	pending    []*groupCall
	committing bool
	// commits counts the transactions, for tests that check the grouping.
	commits int
}

type groupCall struct {
	fn   func(tx *gorm.DB) error
	err  error
	done chan struct{}
}

// run runs fn in a transaction shared with the writes queued beside it and
// returns once that transaction committed (fn's error, or the commit's).
func (g *groupCommit) run(ctx context.Context, db *gorm.DB, fn func(tx *gorm.DB) error) error {
	c := &groupCall{fn: fn, done: make(chan struct{})}
	g.mu.Lock()
	g.pending = append(g.pending, c)
	leader := !g.committing
	if leader {
		g.committing = true
	}
	g.mu.Unlock()
	if leader {
		// The batch holds other callers' writes: the leader's cancel must
		// not abort them.
		g.commitAll(context.WithoutCancel(ctx), db)
	}
	<-c.done
	return c.err
}

// commitAll commits queued calls, a batch at a time, until none is left.
func (g *groupCommit) commitAll(ctx context.Context, db *gorm.DB) {
	for {
		g.mu.Lock()
		n := min(len(g.pending), maxGroup)
		if n == 0 {
			g.committing = false
			g.mu.Unlock()
			return
		}
		batch := g.pending[:n:n]
		g.pending = g.pending[n:]
		g.commits++
		g.mu.Unlock()

		err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			for _, c := range batch {
				c.err = tx.Transaction(c.fn) // a savepoint each
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
