package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// The writer: one goroutine owns SQLite's one write connection and runs every
// write of the process through it, grouping the writes that queued while the
// previous group was committing into one transaction. A group is one fsync
// (synchronous=FULL is unchanged) where one transaction per write was one
// fsync each: under load, concurrent requests share the disk's flush
// instead of queueing for one each (group commit). A write still sees
// exactly the state every earlier write left, and its caller hears back
// only after the group has committed, so nothing reported as stored can be
// lost.
//
// A write that fails must not take its group's other writes with it. A
// savepoint around each write would isolate it, but costs two statements a
// write and a copy of every page it first touches (the sub-journal), paid
// by every write to protect against the rare one that fails. So a group
// runs bare, and only when one of its writes fails (or panics) is the
// transaction rolled back and the group run again with a savepoint per
// write, where the failure is undone alone. A write may therefore run
// twice: its fn must set, not accumulate, what it hands back.
//
// Hand-written because database/sql has no group commit, and neither
// modernc.org/sqlite nor the Go SQLite wrappers we looked at (zombiezen,
// crawshaw, ncruces) offer one; they leave batching to the application.

// maxGroup bounds a group, so that one commit never holds a long queue of
// callers behind a slow write.
const maxGroup = 64

// maxStatements bounds the prepared statements kept per connection pool: the
// queries are the package's own texts (and a few lengths of VALUES lists), so
// the bound is only a guard against a caller building unbounded variety.
const maxStatements = 512

type writeRequest struct {
	ctx  context.Context
	fn   func(tx *writeTx) error
	done chan writeAnswer
}

type writeAnswer struct {
	err   error
	panic any // a panic of fn, raised again in the caller's goroutine
}

type writer struct {
	conn    *sql.Conn
	stmts   *statements
	commits atomic.Uint64 // groups committed, for tests and figures
	redone  atomic.Uint64 // groups run again with savepoints after a failed write
	saved   atomic.Uint64 // savepoints taken

	mu     sync.RWMutex // held to send; Close takes it to close queue
	closed bool
	queue  chan writeRequest
	exited chan struct{}
}

func newWriter(ctx context.Context, db *sql.DB) (*writer, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: writer connection: %w", err)
	}
	w := &writer{conn: conn, stmts: newStatements(conn.PrepareContext),
		queue: make(chan writeRequest), exited: make(chan struct{})}
	go w.loop()
	return w, nil
}

var errClosed = errors.New("sqlite: database closed")

// do runs fn in the next group and returns once that group has committed
// (fn's error, or the commit's). A caller whose ctx ends before its write
// begins gets ctx's error and nothing is written; once begun, the write runs
// to its end whatever the ctx (fn's statements ignore its cancellation:
// SQLite answers an interrupted write by rolling back the whole
// transaction, every other caller's write in the group with it). fn may be
// run a second time when another write of its group failed (the first run
// rolled back): it must set, not accumulate, what it returns.
func (w *writer) do(ctx context.Context, fn func(tx *writeTx) error) error {
	req := writeRequest{ctx: ctx, fn: fn, done: make(chan writeAnswer, 1)}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return errClosed
	}
	select {
	case w.queue <- req:
	case <-ctx.Done():
		w.mu.RUnlock()
		return ctx.Err()
	}
	w.mu.RUnlock()
	a := <-req.done
	if a.panic != nil {
		panic(a.panic)
	}
	return a.err
}

// close waits for the writes under way, then closes the connection; a
// second close does nothing.
func (w *writer) close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	close(w.queue)
	w.mu.Unlock()
	<-w.exited
	w.stmts.close()
	return w.conn.Close()
}

func (w *writer) loop() {
	defer close(w.exited)
	group := make([]writeRequest, 0, maxGroup)
	for first := range w.queue {
		group = append(group[:0], first)
		// Let the goroutines that are runnable now (a request between two
		// of its writes, say) reach the queue before the group closes: at
		// 16 checkouts at once that made a third fewer groups (1.23 to 0.83
		// a checkout), each a commit and an fsync, for the time of one turn
		// of the scheduler's queue.
		runtime.Gosched()
	more:
		for len(group) < maxGroup {
			select {
			case r, ok := <-w.queue:
				if !ok {
					break more
				}
				group = append(group, r)
			default:
				break more
			}
		}
		w.commit(group)
	}
}

// commit runs the group in one IMMEDIATE transaction and answers each
// request: first bare, and again with a savepoint per write if one failed.
func (w *writer) commit(group []writeRequest) {
	answers := make([]writeAnswer, len(group))
	began := make([]bool, len(group))
	err := w.runGroup(group, answers, began, false)
	if errors.Is(err, errWriteFailed) && len(group) > 1 {
		w.rollback()
		for i := range answers {
			if began[i] {
				answers[i] = writeAnswer{}
			}
		}
		w.redone.Add(1)
		err = w.runGroup(group, answers, began, true)
	}
	if err != nil {
		w.rollback()
		for i := range answers { // what was written is gone: every write fails
			if answers[i].err == nil && answers[i].panic == nil {
				answers[i].err = err
			}
		}
	} else {
		w.commits.Add(1)
	}
	for i, r := range group {
		r.done <- answers[i]
	}
}

// errWriteFailed ends a bare run of a group one of whose writes failed: only
// a rollback undoes that write, and the group's others with it. Each answer
// keeps its own error.
var errWriteFailed = errors.New("sqlite: a write of the group failed")

// runGroup begins the transaction, runs each write (in a savepoint of its
// own when savepoints is set: a failed or panicking one is then undone
// alone) and commits, filling in answers. A write whose caller has gone
// before it began is answered with its ctx's error and skipped; one that
// began in an earlier run of the group runs again whatever its ctx. An
// error means the transaction must be rolled back; errWriteFailed, that a
// bare run met a failed write.
func (w *writer) runGroup(group []writeRequest, answers []writeAnswer, began []bool, savepoints bool) error {
	if _, err := w.control("BEGIN IMMEDIATE"); err != nil {
		return err
	}
	for i, r := range group {
		if !began[i] {
			if err := r.ctx.Err(); err != nil {
				answers[i].err = err
				continue
			}
			began[i] = true
		}
		if savepoints {
			if _, err := w.control("SAVEPOINT write"); err != nil {
				return err
			}
			w.saved.Add(1)
		}
		answers[i] = w.run(r)
		if failed := answers[i].err != nil || answers[i].panic != nil; failed {
			if !savepoints {
				return errWriteFailed
			}
			// Undo this write only. If SQLite already rolled the whole
			// transaction back (a full disk, an I/O error), the savepoint
			// is gone and so are the earlier writes of the group.
			if _, err := w.control("ROLLBACK TO write"); err != nil {
				return fmt.Errorf("sqlite: the write group was rolled back: %w", err)
			}
		}
		if savepoints {
			if _, err := w.control("RELEASE write"); err != nil {
				return err
			}
		}
	}
	if _, err := w.control("COMMIT"); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

func (w *writer) rollback() {
	w.control("ROLLBACK") // "no transaction is active" when SQLite already did
}

// control runs one of the transaction's own statements (BEGIN, SAVEPOINT,
// COMMIT, ...), prepared once like any other.
func (w *writer) control(statement string) (sql.Result, error) {
	return (&writeTx{w: w, ctx: context.Background()}).ExecContext(context.Background(), statement)
}

// run calls the request's fn, turning a panic into an answer for its caller.
func (w *writer) run(r writeRequest) (a writeAnswer) {
	defer func() {
		if p := recover(); p != nil {
			a = writeAnswer{panic: p}
		}
	}()
	return writeAnswer{err: r.fn(&writeTx{w: w, ctx: context.WithoutCancel(r.ctx)})}
}

// statements keeps a pool's prepared statements by their text, at most
// maxStatements.
type statements struct {
	prepare func(ctx context.Context, query string) (*sql.Stmt, error)

	mu     sync.Mutex
	byText map[string]*sql.Stmt // nil once closed
}

func newStatements(prepare func(ctx context.Context, query string) (*sql.Stmt, error)) *statements {
	return &statements{prepare: prepare, byText: make(map[string]*sql.Stmt)}
}

// get is query's prepared statement; nil (and no error) when the cache is
// closed or full: the query then runs unprepared.
func (c *statements) get(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.byText[query]; ok {
		return s, nil
	}
	if c.byText == nil || len(c.byText) >= maxStatements {
		return nil, nil
	}
	s, err := c.prepare(ctx, query)
	if err != nil {
		return nil, err
	}
	c.byText[query] = s
	return s, nil
}

func (c *statements) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.byText {
		s.Close()
	}
	c.byText = nil
}

// writeTx is one write inside a group: the queries of a write transaction, on
// prepared statements. Its methods ignore the ctx they are given in favour
// of the request's, without its cancellation (see writer.do).
type writeTx struct {
	w   *writer
	ctx context.Context
}

func (t *writeTx) ExecContext(_ context.Context, query string, args ...any) (sql.Result, error) {
	s, err := t.w.stmts.get(t.ctx, query)
	if err != nil || s == nil {
		return t.w.conn.ExecContext(t.ctx, query, args...) // reports the preparation's error, if any
	}
	return s.ExecContext(t.ctx, args...)
}

func (t *writeTx) QueryContext(_ context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := t.w.stmts.get(t.ctx, query)
	if err != nil || s == nil {
		return t.w.conn.QueryContext(t.ctx, query, args...)
	}
	return s.QueryContext(t.ctx, args...)
}

func (t *writeTx) QueryRowContext(_ context.Context, query string, args ...any) *sql.Row {
	s, err := t.w.stmts.get(t.ctx, query)
	if err != nil || s == nil {
		return t.w.conn.QueryRowContext(t.ctx, query, args...)
	}
	return s.QueryRowContext(t.ctx, args...)
}

// readers is the read-only pool with its prepared statements (database/sql
// prepares each on a connection the first time it runs there).
type readers struct {
	*sql.DB
	stmts *statements
}

func newReaders(db *sql.DB) *readers {
	return &readers{DB: db, stmts: newStatements(db.PrepareContext)}
}

func (r *readers) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s, err := r.stmts.get(ctx, query); err == nil && s != nil {
		return s.ExecContext(ctx, args...)
	}
	return r.DB.ExecContext(ctx, query, args...)
}

func (r *readers) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s, err := r.stmts.get(ctx, query); err == nil && s != nil {
		return s.QueryContext(ctx, args...)
	}
	return r.DB.QueryContext(ctx, query, args...)
}

func (r *readers) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s, err := r.stmts.get(ctx, query); err == nil && s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return r.DB.QueryRowContext(ctx, query, args...)
}

func (r *readers) Close() error {
	r.stmts.close()
	return r.DB.Close()
}
