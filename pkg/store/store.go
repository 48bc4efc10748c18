package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/libtnb/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"

	"github.com/vworkspace/pushd/pkg/store/sealed"
)

// Store is an open, migrated database.
type Store struct {
	db     *gorm.DB
	driver string
	// group shares commits between concurrent intake writes.
	group groupCommit
	// manifestKeys seal and open jobs' manifests (crypt.go).
	manifestKeys *sealed.Keyring
}

// Options are the optional knobs of Open.
type Options struct {
	// Logger receives slow queries and errors; discarded when nil.
	Logger *slog.Logger
	// SlowQuery is the duration above which a query is logged at warn level.
	SlowQuery time.Duration
	// ManifestKeys seal the manifests of jobs as they are stored (crypt.go);
	// nil stores them plain. Rows sealed with a key absent from it fail to
	// read, naming the key.
	ManifestKeys *sealed.Keyring
}

// Open connects to driver ("sqlite" or "postgres") at dsn and runs every
// pending migration before returning, so a Store is always at the current schema.
func Open(ctx context.Context, driver, dsn string, opts Options) (*Store, error) {
	s, err := connect(driver, dsn, opts)
	if err != nil {
		return nil, err
	}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.migrate(ctx, migrations); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// connect opens the database without migrating it.
func connect(driver, dsn string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.SlowQuery == 0 {
		opts.SlowQuery = 500 * time.Millisecond
	}
	cfg := &gorm.Config{
		Logger:                 &gormLog{log: opts.Logger, slow: opts.SlowQuery},
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return time.Now().UTC() },
	}
	var (
		db  *gorm.DB
		err error
	)
	switch driver {
	case "sqlite":
		db, err = openSQLite(dsn, cfg)
	case "postgres":
		db, err = gorm.Open(postgres.Open(dsn), cfg)
	default:
		return nil, fmt.Errorf("store: unsupported driver %q", driver)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", driver, err)
	}
	if err := registerSealing(db, opts.ManifestKeys); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return &Store{db: db, driver: driver, manifestKeys: opts.ManifestKeys}, nil
}

func openSQLite(path string, cfg *gorm.Config) (*gorm.DB, error) {
	if path != ":memory:" && !strings.HasPrefix(path, "file:") {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		// Create the file owner-only before SQLite does (it would use 0644);
		// its -wal and -shm files take the same mode.
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		f.Close()
	}
	// WAL lets readers run beside the single writer; busy_timeout turns lock
	// contention into waiting instead of SQLITE_BUSY errors, and immediate
	// transactions take the write lock up front, so a read-then-write
	// transaction never fails on upgrading its lock (SQLITE_BUSY_SNAPSHOT).
	// synchronous(FULL): a job answered 202 survives a power loss too.
	// _time_format=sqlite writes times as "2006-01-02 15:04:05.999999999-07:00",
	// the text every release of pushd has stored, so time comparisons in SQL
	// stay ordered across files written before and after a driver upgrade.
	// secure_delete(1): SQLite zeroes what it frees (a deleted row, the old
	// bytes of an updated one, their overflow pages), so a pruned or
	// resealed job's plain manifests do not linger in the file for anyone
	// holding a copy of it; the cost is within the noise of synchronous(FULL).
	dsn := path + "?_txlock=immediate&_time_format=sqlite&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)&_pragma=secure_delete(1)"
	db, err := gorm.Open(sqlite.Open(dsn), cfg)
	if err != nil {
		return nil, err
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	// SQLite has one writer; one connection serialises writers inside the
	// process instead of letting them fail on each other.
	sqlDB.SetMaxOpenConns(1)
	return db, nil
}

// Driver is "sqlite" or "postgres".
func (s *Store) Driver() string { return s.driver }

// Ping checks that the database answers; /readyz uses it.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping %s: %w", s.driver, err)
	}
	return nil
}

// Close releases the connection pool.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// gormLog routes gorm's messages into slog: errors and slow queries only,
// never the query arguments (they may hold credentials-adjacent data).
type gormLog struct {
	log  *slog.Logger
	slow time.Duration
}

func (g *gormLog) LogMode(gormlogger.LogLevel) gormlogger.Interface { return g }
func (g *gormLog) Info(ctx context.Context, msg string, args ...any) {
	g.log.DebugContext(ctx, fmt.Sprintf(msg, args...))
}
func (g *gormLog) Warn(ctx context.Context, msg string, args ...any) {
	g.log.WarnContext(ctx, fmt.Sprintf(msg, args...))
}
func (g *gormLog) Error(ctx context.Context, msg string, args ...any) {
	g.log.ErrorContext(ctx, fmt.Sprintf(msg, args...))
}
func (g *gormLog) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	elapsed := time.Since(begin)
	switch {
	case err != nil && !errors.Is(err, gorm.ErrRecordNotFound) && !errors.Is(err, context.Canceled):
		sql, _ := fc()
		g.log.DebugContext(ctx, "query failed", "sql", firstWords(sql), "elapsed", elapsed, "err", err)
	case elapsed > g.slow:
		sql, _ := fc()
		g.log.WarnContext(ctx, "slow query", "sql", firstWords(sql), "elapsed", elapsed)
	}
}

// firstWords keeps the statement's shape (verb and table) without its values.
func firstWords(sql string) string {
	f := strings.Fields(sql)
	if len(f) > 4 {
		f = f[:4]
	}
	return strings.Join(f, " ")
}
