package risk

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func mustCount(tb testing.TB, c Counters, qs ...Query) []int {
	tb.Helper()
	n, err := c.Count(context.Background(), qs)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func mustRecord(tb testing.TB, c Counters, es ...Event) {
	tb.Helper()
	if err := c.Record(context.Background(), es); err != nil {
		tb.Fatal(err)
	}
}

func TestMemoryCountersSlidingWindow(t *testing.T) {
	c := NewMemoryCounters(24 * time.Hour)
	for i, m := range []string{"a", "b", "a", "c", ""} {
		at := t0.Add(time.Duration(i) * 10 * time.Minute)
		mustRecord(t, c, Event{Key: "k", Member: m, At: at}, Event{Key: "n", At: at})
	}
	mustRecord(t, c, Event{Key: "other", Member: "z", At: t0}, Event{Key: "other", At: t0})
	// Events at t0, +10m, +20m, +30m, +40m: members of k (the last one
	// none, an event of k), events of n.
	tests := []struct {
		name string
		q    Query
		want int
	}{
		{"all events", Query{Key: "n", Since: t0.Add(-time.Hour)}, 5},
		{"since is inclusive", Query{Key: "n", Since: t0.Add(20 * time.Minute)}, 3},
		{"window after the last", Query{Key: "n", Since: t0.Add(41 * time.Minute)}, 0},
		{"members are not events", Query{Key: "k", Since: t0.Add(-time.Hour)}, 1},
		{"distinct members, empty ones not counted", Query{Key: "k", Since: t0, Distinct: true}, 3},
		{"distinct in a narrower window", Query{Key: "k", Since: t0.Add(20 * time.Minute), Distinct: true}, 2},
		{"unknown key", Query{Key: "nope", Since: t0}, 0},
		{"keys are separate", Query{Key: "other", Since: t0, Distinct: true}, 1},
	}
	for _, tt := range tests {
		if got := mustCount(t, c, tt.q)[0]; got != tt.want {
			t.Errorf("%s: Count = %d, want %d", tt.name, got, tt.want)
		}
	}
	// Answers come in query order.
	got := mustCount(t, c, Query{Key: "other", Since: t0}, Query{Key: "n", Since: t0})
	if got[0] != 1 || got[1] != 5 {
		t.Errorf("Count of two queries = %v, want [1 5]", got)
	}
}

func TestMemoryCountersPrune(t *testing.T) {
	c := NewMemoryCounters(time.Hour)
	mustRecord(t, c, Event{Key: "k", At: t0}, Event{Key: "idle", At: t0})
	mustRecord(t, c, Event{Key: "k", At: t0.Add(2 * time.Hour)})
	if got := mustCount(t, c, Query{Key: "k", Since: t0.Add(-time.Hour)})[0]; got != 1 {
		t.Errorf("after retention, Count = %d, want 1 (the old event pruned)", got)
	}
	// An event already older than the retention is not kept at all.
	mustRecord(t, c, Event{Key: "late", At: t0})
	if got := mustCount(t, c, Query{Key: "late", Since: t0})[0]; got != 0 {
		t.Errorf("a stale event was kept: %d", got)
	}
	// Idle keys go in the periodic sweep.
	for i := range 10 {
		mustRecord(t, c, Event{Key: "idle" + strconv.Itoa(i), At: t0.Add(2 * time.Hour)})
	}
	for range sweepEvery {
		mustRecord(t, c, Event{Key: "busy", At: t0.Add(4 * time.Hour)})
	}
	c.mu.Lock()
	keys := len(c.keys)
	c.mu.Unlock()
	// The busy key keeps its latest KeepPerKey events, however many arrive.
	if keys != 1 || c.Len() != KeepPerKey {
		t.Errorf("after the sweep %d keys and %d events are held, want 1 and %d", keys, c.Len(), KeepPerKey)
	}
}

func TestMemoryCountersConcurrent(t *testing.T) {
	c := NewMemoryCounters(time.Hour)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				key := "ip" + strconv.Itoa(i%10)
				mustRecord(t, c, Event{Key: key, Member: strconv.Itoa(g*1000 + i), At: t0})
				mustCount(t, c, Query{Key: key, Since: t0, Distinct: true})
			}
		})
	}
	wg.Wait()
	for i := range 10 { // 8 goroutines × 10 members each
		if got := mustCount(t, c, Query{Key: "ip" + strconv.Itoa(i), Since: t0, Distinct: true})[0]; got != 80 {
			t.Errorf("distinct = %d, want 80", got)
		}
	}
}

// SplitEvents gives every store the same rows: each kind apart, in key
// order, the keys to trim once each, and the latest time.
func TestSplitEvents(t *testing.T) {
	w := SplitEvents([]Event{
		{Key: "ip:b", Member: "card_2", At: t0},
		{Key: "card:z", At: t0.Add(time.Second)},
		{Key: "ip:a", Member: "card_1", At: t0},
		{Key: "rl_merchant:m", At: t0.Add(3 * time.Second), Bucket: time.Second},
		{Key: "ip:b", Member: "card_1", At: t0.Add(2 * time.Second)},
		{Key: "card:z", At: t0},
	})
	var members []string
	for _, e := range w.Members {
		members = append(members, e.Key+"/"+e.Member)
	}
	if want := []string{"ip:a/card_1", "ip:b/card_1", "ip:b/card_2"}; !slices.Equal(members, want) {
		t.Errorf("members %v; want %v", members, want)
	}
	if !slices.Equal(w.MemberKeys, []string{"ip:a", "ip:b"}) || !slices.Equal(w.OccurrenceKeys, []string{"card:z"}) {
		t.Errorf("keys to trim %v and %v", w.MemberKeys, w.OccurrenceKeys)
	}
	if len(w.Occurrences) != 2 || len(w.Buckets) != 1 || w.Buckets[0].Key != "rl_merchant:m" {
		t.Errorf("occurrences %v, buckets %v", w.Occurrences, w.Buckets)
	}
	if !w.Latest.Equal(t0.Add(3 * time.Second)) {
		t.Errorf("latest %v", w.Latest)
	}
}
