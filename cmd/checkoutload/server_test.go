package main

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	for _, tc := range []struct {
		stat string
		want int64
		ok   bool
	}{
		{"4242 (checkoutd) S 1 4242 4242 0 -1 4194560 1000 0 0 0 731 129 0 0 20 0 9 0 100 2000000 3000 18446744073709551615", 860, true},
		// The command name may hold spaces and parentheses.
		{"7 (a) b) (c) R 1 7 7 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 1 1 1", 11, true},
		{"7 (short) R 1 2", 0, false},
		{"no command", 0, false},
	} {
		got, err := parseStatCPU([]byte(tc.stat))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseStatCPU(%q) = %d, %v; want %d, ok %v", tc.stat, got, err, tc.want, tc.ok)
		}
	}
}

func TestCPUClockReadsThisProcess(t *testing.T) {
	c := newCPUClock(os.Getpid())
	if c == nil {
		t.Skip("no /proc here")
	}
	before, _ := c.read()
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
	}
	after, err := c.read()
	if err != nil || after <= before {
		t.Fatalf("CPU time %s then %s (%v): want it to grow while spinning", before, after, err)
	}
}
