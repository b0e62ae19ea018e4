package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// scratch opens a database with a table of its own for the writer's tests.
func scratch(t *testing.T) *DB {
	t.Helper()
	db := mustOpen(t, filepath.Join(t.TempDir(), "checkout.db"))
	if _, err := db.exec(t.Context(), `CREATE TABLE scratch (k TEXT NOT NULL PRIMARY KEY) STRICT`); err != nil {
		t.Fatal(err)
	}
	return db
}

func insert(ctx context.Context, tx *writeTx, k string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO scratch (k) VALUES (?)`, k)
	return err
}

func keys(t *testing.T, db *DB) []string {
	t.Helper()
	rows, err := db.r.QueryContext(t.Context(), `SELECT k FROM scratch ORDER BY k`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		out = append(out, k)
	}
	return out
}

// hold occupies the writer until the returned release is called, so that
// the writes started meanwhile queue up and commit as one group.
func hold(t *testing.T, db *DB) (release func()) {
	t.Helper()
	entered, gate := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- db.write(context.Background(), func(*writeTx) error {
			close(entered)
			<-gate
			return nil
		})
	}()
	<-entered
	return func() {
		close(gate)
		if err := <-done; err != nil {
			t.Errorf("holding write: %v", err)
		}
	}
}

// queue starts fn on n goroutines while the writer is held, and returns
// once all of them are about to write; wait collects their errors.
func queue(t *testing.T, n int, fn func(i int) error) (wait func() []error) {
	t.Helper()
	var ready atomic.Int32
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ready.Add(1)
			errs[i] = fn(i)
		})
	}
	for ready.Load() < int32(n) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // let them reach the queue (not an assertion: the commit count below allows for stragglers)
	return func() []error { wg.Wait(); return errs }
}

func TestConcurrentWritesShareACommit(t *testing.T) {
	db := scratch(t)
	before := db.writer.commits.Load()
	release := hold(t, db)
	const n = 20
	wait := queue(t, n, func(i int) error {
		return db.write(t.Context(), func(tx *writeTx) error { return insert(t.Context(), tx, string(rune('a'+i))) })
	})
	release()
	for i, err := range wait() {
		if err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	if got := keys(t, db); len(got) != n {
		t.Fatalf("stored %d rows, want %d: %v", len(got), n, got)
	}
	// One commit for the held write, then the queued ones in a group (a
	// straggler that reached the queue late may take a second).
	if commits := db.writer.commits.Load() - before; commits > 3 {
		t.Errorf("%d writes took %d commits; want them grouped (at most 3)", n+1, commits)
	}
}

func TestAGroupRunsWithoutSavepoints(t *testing.T) {
	db := scratch(t)
	release := hold(t, db)
	wait := queue(t, 8, func(i int) error {
		return db.write(t.Context(), func(tx *writeTx) error { return insert(t.Context(), tx, string(rune('a'+i))) })
	})
	release()
	for i, err := range wait() {
		if err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	if saved, redone := db.writer.saved.Load(), db.writer.redone.Load(); saved != 0 || redone != 0 {
		t.Errorf("writes that all succeed took %d savepoints and %d second runs; want none", saved, redone)
	}
}

// A group with a failed write runs again with savepoints: a write that had
// begun in the first run runs again even if its caller has gone since; one
// that had not begun is answered with its caller's error and writes nothing.
func TestASecondRunKeepsTheFirstRunsStarts(t *testing.T) {
	db := scratch(t)
	refused := errors.New("refused by the caller")
	begunCtx, cancelBegun := context.WithCancel(t.Context())
	waitingCtx, cancelWaiting := context.WithCancel(t.Context())
	defer cancelBegun()
	defer cancelWaiting()
	release := hold(t, db)
	var order atomic.Int32
	errs := make([]error, 3)
	var wg sync.WaitGroup
	write := func(i int, ctx context.Context, fn func(tx *writeTx) error) {
		for order.Load() != int32(i) { // queue in this order
			time.Sleep(time.Millisecond)
		}
		wg.Go(func() { errs[i] = db.write(ctx, fn) })
		time.Sleep(100 * time.Millisecond) // to reach the queue before the next (the queue keeps senders in order)
		order.Add(1)
	}
	write(0, begunCtx, func(tx *writeTx) error { return insert(t.Context(), tx, "begun") })
	write(1, t.Context(), func(tx *writeTx) error {
		cancelBegun()
		cancelWaiting()
		return refused
	})
	write(2, waitingCtx, func(tx *writeTx) error { return insert(t.Context(), tx, "waiting") })
	release()
	wg.Wait()
	if errs[0] != nil {
		t.Errorf("the write begun before the failure answered %v; want it committed", errs[0])
	}
	if !errors.Is(errs[1], refused) {
		t.Errorf("the failed write answered %v; want its own error", errs[1])
	}
	if !errors.Is(errs[2], context.Canceled) {
		t.Errorf("the write not yet begun answered %v; want its caller's error", errs[2])
	}
	if got, want := keys(t, db), []string{"begun"}; !slices.Equal(got, want) {
		t.Errorf("rows %v; want %v", got, want)
	}
	if redone := db.writer.redone.Load(); redone != 1 {
		t.Errorf("%d second runs; want 1", redone)
	}
}

func TestAFailedWriteLeavesItsGroupIntact(t *testing.T) {
	db := scratch(t)
	if _, err := db.exec(t.Context(), `INSERT INTO scratch (k) VALUES ('taken')`); err != nil {
		t.Fatal(err)
	}
	refused := errors.New("refused by the caller")
	release := hold(t, db)
	wait := queue(t, 4, func(i int) error {
		return db.write(t.Context(), func(tx *writeTx) error {
			switch i {
			case 1: // writes, then fails: its row must go
				if err := insert(t.Context(), tx, "half"); err != nil {
					return err
				}
				return refused
			case 3: // a constraint violation
				return insert(t.Context(), tx, "taken")
			}
			return insert(t.Context(), tx, []string{"first", "", "third"}[i])
		})
	})
	release()
	errs := wait()
	if errs[0] != nil || errs[2] != nil {
		t.Errorf("the good writes failed: %v, %v", errs[0], errs[2])
	}
	if !errors.Is(errs[1], refused) {
		t.Errorf("the failed write answered %v; want its own error", errs[1])
	}
	if !isPrimaryKey(errs[3]) {
		t.Errorf("the duplicate answered %v; want a primary key violation", errs[3])
	}
	if got, want := keys(t, db), []string{"first", "taken", "third"}; !slices.Equal(got, want) {
		t.Errorf("rows %v; want %v", got, want)
	}
}

func TestAPanickingWriteRaisesInItsCaller(t *testing.T) {
	db := scratch(t)
	release := hold(t, db)
	wait := queue(t, 2, func(i int) (err error) {
		if i == 0 {
			return db.write(t.Context(), func(tx *writeTx) error { return insert(t.Context(), tx, "kept") })
		}
		defer func() {
			if p := recover(); p != "boom" {
				err = errors.New("the panic did not reach the caller")
			}
		}()
		return db.write(t.Context(), func(tx *writeTx) error {
			insert(t.Context(), tx, "undone")
			panic("boom")
		})
	})
	release()
	for _, err := range wait() {
		if err != nil {
			t.Error(err)
		}
	}
	if got, want := keys(t, db), []string{"kept"}; !slices.Equal(got, want) {
		t.Errorf("rows %v; want %v", got, want)
	}
	if _, err := db.exec(t.Context(), `INSERT INTO scratch (k) VALUES ('after')`); err != nil {
		t.Errorf("the writer after a panic: %v", err)
	}
}

func TestCancellation(t *testing.T) {
	db := scratch(t)

	// Gone before the write begins: nothing written.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := db.write(ctx, func(tx *writeTx) error { return insert(ctx, tx, "never") }); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled write answered %v; want context.Canceled", err)
	}

	// Cancelled while writing: the write runs to its end and commits, since
	// SQLite would roll back the whole group for an interrupted statement.
	ctx, cancel = context.WithCancel(t.Context())
	err := db.write(ctx, func(tx *writeTx) error {
		if err := insert(ctx, tx, "one"); err != nil {
			return err
		}
		cancel()
		return insert(ctx, tx, "two")
	})
	if err != nil {
		t.Errorf("a write cancelled midway answered %v", err)
	}
	if got, want := keys(t, db), []string{"one", "two"}; !slices.Equal(got, want) {
		t.Errorf("rows %v; want %v", got, want)
	}
}

func TestWriteAfterClose(t *testing.T) {
	db := scratch(t)
	db.Close()
	if err := db.write(t.Context(), func(*writeTx) error { return nil }); !errors.Is(err, errClosed) {
		t.Errorf("a write after Close answered %v; want errClosed", err)
	}
}
