package vault

import (
	"context"
	"errors"
	"fmt"
)

// DefaultRewrapBatchSize is RewrapOptions.BatchSize's default.
const DefaultRewrapBatchSize = 100

// rewrapConflictRetries bounds how often one data key is re-read and
// rewrapped again after losing a compare-and-swap to another rewrap.
const rewrapConflictRetries = 5

// Rewrapper is what Rewrap needs of a KEK; Transit implements it. It has a
// fourth method, ID, beyond the house's usual three: without it Rewrap
// could not tell a data key wrapped by another KEK (e.g. "local" rows from
// before a migration) and would fail on it instead of leaving it alone.
type Rewrapper interface {
	// ID is the KeyEncrypter ID stored with the data keys this KEK wrapped.
	ID() string
	// RewrapDataKey re-encrypts wrapped under the newest KEK version without
	// the plaintext leaving the KEK. Errors match ErrKEKUnavailable when
	// the KEK cannot serve.
	RewrapDataKey(ctx context.Context, wrapped []byte) ([]byte, error)
	// KeyVersion is the KEK version wrapped was made under; 0 if unknown.
	KeyVersion(wrapped []byte) int
	// LatestVersion is the KEK's newest version.
	LatestVersion(ctx context.Context) (int, error)
}

// RewrapOptions configure Rewrap.
type RewrapOptions struct {
	// BatchSize is how many data keys are read per Store.DataKeys call.
	// Default 100.
	BatchSize int
	// After resumes an interrupted run: data keys with ids up to and
	// including After are not walked in the main pass (a previous run's
	// RewrapProgress.Cursor).
	After string
	// Progress, when set, is called after every batch and at the end.
	Progress func(RewrapProgress)
}

// RewrapProgress says how far a Rewrap got.
type RewrapProgress struct {
	Latest    int    `json:"latest"`    // the KEK version data keys are moved to
	Done      int    `json:"done"`      // data keys finished so far: Rewrapped + Skipped + Foreign
	Rewrapped int    `json:"rewrapped"` // rewrapped to Latest (or newer) by this run
	Skipped   int    `json:"skipped"`   // already at Latest or newer: left as they were
	Foreign   int    `json:"foreign"`   // wrapped by another KEK: left as they were
	Cursor    string `json:"cursor"`    // id of the last data key finished in the main pass: pass it as RewrapOptions.After to resume
	Finished  bool   `json:"finished"`  // every data key is at Latest or newer (or foreign)
}

// Rewrap moves every data key wrapped by kek under an older version to the
// newest one, after a rotation (PCI DSS 3.6.1.4: retire old key versions;
// 3.7.4: key changes at the end of their cryptoperiod). Only the wrapped
// data keys change; card ciphertext is never read or written, and the
// plaintext data keys never leave the KEK.
//
// It is safe while payments continue: each key is replaced by
// compare-and-swap (a key changed under it is re-read and retried), new
// data keys are made at the newest version already, and Vaults keep using
// the keys they have unwrapped in memory. It walks the keys in id order
// from opts.After, then reads the whole table once more: ids are random,
// so a key made by a GenerateDataKey call that straddled the rotation may
// have been inserted behind the cursor.
//
// Re-running it is cheap and safe: keys already at the newest version cost
// a read, not a KEK call. On error (or ctx cancelled) it returns the
// progress so far; resume with RewrapOptions.After = progress.Cursor. Only
// when Finished is it safe to retire old versions
// (Transit.SetMinDecryptionVersion(progress.Latest)).
func Rewrap(ctx context.Context, store Store, kek Rewrapper, opts RewrapOptions) (RewrapProgress, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultRewrapBatchSize
	}
	latest, err := kek.LatestVersion(ctx)
	if err != nil {
		return RewrapProgress{Cursor: opts.After}, fmt.Errorf("vault: rewrap: %w", err)
	}
	p := RewrapProgress{Latest: latest, Cursor: opts.After}
	report := func() {
		if opts.Progress != nil {
			opts.Progress(p)
		}
	}
	// The main pass counts every key; the check pass only what it fixes.
	for _, main := range []bool{true, false} {
		after := ""
		if main {
			after = opts.After
		}
		for {
			keys, err := store.DataKeys(ctx, after, opts.BatchSize)
			if err != nil {
				return p, fmt.Errorf("vault: rewrap: list data keys after %q: %w", after, err)
			}
			for _, dk := range keys {
				outcome, err := rewrapOne(ctx, store, kek, dk, latest)
				if err != nil {
					report()
					return p, fmt.Errorf("vault: rewrap data key %s: %w", dk.ID, err)
				}
				switch {
				case outcome == rewrapped:
					p.Rewrapped++
					p.Done++
				case !main:
				case outcome == skipped:
					p.Skipped++
					p.Done++
				case outcome == foreign:
					p.Foreign++
					p.Done++
				}
				if main {
					p.Cursor = dk.ID
				}
				after = dk.ID
			}
			report()
			if len(keys) < opts.BatchSize {
				break
			}
		}
	}
	p.Finished = true
	report()
	return p, nil
}

type rewrapOutcome int

const (
	rewrapped rewrapOutcome = iota
	skipped
	foreign
)

// rewrapOne brings one data key to version latest or newer.
func rewrapOne(ctx context.Context, store Store, kek Rewrapper, dk DataKey, latest int) (rewrapOutcome, error) {
	for attempt := 0; ; attempt++ {
		if dk.KEKID != kek.ID() {
			return foreign, nil
		}
		v := kek.KeyVersion(dk.Wrapped)
		if v == 0 {
			return 0, fmt.Errorf("wrapped form is not a %s ciphertext", kek.ID())
		}
		if v >= latest {
			return skipped, nil
		}
		wrapped, err := kek.RewrapDataKey(ctx, dk.Wrapped)
		if err != nil {
			return 0, err
		}
		err = store.UpdateDataKeyWrapped(ctx, dk.ID, dk.Wrapped, wrapped)
		if err == nil {
			return rewrapped, nil
		}
		if !errors.Is(err, ErrConflict) || attempt >= rewrapConflictRetries {
			return 0, err
		}
		// Another rewrap got there first: look at what it wrote.
		if dk, err = store.DataKey(ctx, dk.ID); err != nil {
			return 0, err
		}
	}
}
