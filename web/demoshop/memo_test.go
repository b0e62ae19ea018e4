package demoshop

import (
	"testing"
	"time"
)

func TestMemoExpires(t *testing.T) {
	now := time.Date(2026, 11, 21, 15, 0, 0, 0, time.UTC)
	m := newMemo[int]()
	m.now = func() time.Time { return now }

	if !m.putNew("a", 1, now.Add(time.Minute)) {
		t.Fatal("putNew of a new key failed")
	}
	if m.putNew("a", 2, now.Add(time.Hour)) {
		t.Fatal("putNew of a present key succeeded")
	}
	if v, ok := m.get("a"); !ok || v != 1 {
		t.Fatalf("get = %v, %v; want 1, true", v, ok)
	}

	now = now.Add(time.Minute) // at the expiry instant: gone
	if _, ok := m.get("a"); ok {
		t.Fatal("get returned an expired entry")
	}
	if !m.putNew("a", 3, now.Add(time.Minute)) {
		t.Fatal("putNew over an expired entry failed")
	}
	m.put("b", 4, now.Add(time.Second))
	now = now.Add(2 * time.Second)
	m.put("c", 5, now.Add(time.Second)) // sweeps b
	if _, ok := m.m["b"]; ok {
		t.Error("an expired entry was not swept")
	}
}
