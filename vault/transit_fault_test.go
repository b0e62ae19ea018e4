package vault_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/vault"
	"github.com/hostedcheckout/hostedcheckout/vault/vaulttest"
)

// The KEK's defaults: these tests measure what production gets.
const (
	callTimeout    = vault.DefaultTransitCallTimeout
	healthInterval = vault.DefaultHealthInterval
)

// waitFor polls f every 10ms until it returns true or limit passes, and
// returns how long that took.
func waitFor(t *testing.T, limit time.Duration, what string, f func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !f() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// tokenizeErr tokenizes a random card and returns the error.
func tokenizeErr(v *vault.Vault) error {
	_, err := v.Tokenize(context.Background(), []byte(randomPAN()), "visa", 12, 2030)
	return err
}

func TestFailClosedOnSeal(t *testing.T) {
	srv := vaulttest.Start(t, vaulttest.Options{})
	tr := MustRootTransit(t, srv)
	v := MustOpen(t, vault.Options{KEK: tr})
	c := MustTokenize(t, v, "4242424242424242") // the data key is now cached
	kekCalls := v.Stats().KEKGenerate + v.Stats().KEKUnwrap

	// Sealing is the operator's kill switch: even with the data key in
	// memory, no card is encrypted or revealed from the next probe on.
	srv.Seal(t)
	took := waitFor(t, 3*healthInterval, "Tokenize refused after seal", func() bool {
		return errors.Is(tokenizeErr(v), vault.ErrKEKUnavailable)
	})
	t.Logf("sealed: Tokenize refused after %s (health interval %s)", took.Round(time.Millisecond), healthInterval)
	if took > 2*healthInterval {
		t.Errorf("fail closed took %s, want within 2 health intervals", took)
	}
	err := tokenizeErr(v)
	if !strings.Contains(err.Error(), "vault: sealed") {
		t.Errorf("Tokenize while sealed = %v, want it to say vault: sealed", err)
	}
	if _, err := v.Reveal(context.Background(), c.Token); !errors.Is(err, vault.ErrKEKUnavailable) {
		t.Errorf("Reveal while sealed = %v, want ErrKEKUnavailable", err)
	}
	if err := tr.Healthy(); err == nil || err.Error() != "vault: sealed" {
		t.Errorf("Healthy() = %v, want vault: sealed", err)
	}
	if err := v.Healthy(); !errors.Is(err, vault.ErrKEKUnavailable) {
		t.Errorf("Vault.Healthy() = %v, want ErrKEKUnavailable", err)
	}
	// A call that reaches Vault is refused the same way.
	if _, _, err := tr.GenerateDataKey(context.Background()); !errors.Is(err, vault.ErrKEKUnavailable) || !strings.Contains(err.Error(), "sealed") {
		t.Errorf("GenerateDataKey while sealed = %v", err)
	}

	// Unsealed: it recovers by itself, with no KEK call (the key was
	// cached all along).
	srv.Unseal(t)
	took = waitFor(t, 3*healthInterval, "Tokenize after unseal", func() bool { return tokenizeErr(v) == nil })
	t.Logf("unsealed: Tokenize works again after %s", took.Round(time.Millisecond))
	if got := MustReveal(t, v, c.Token); string(got) != "4242424242424242" {
		t.Errorf("Reveal after unseal = %q", got)
	}
	if now := v.Stats().KEKGenerate + v.Stats().KEKUnwrap; now != kekCalls {
		t.Errorf("KEK calls went from %d to %d across the seal", kekCalls, now)
	}
}

func TestFailClosedProxyFaults(t *testing.T) {
	srv := vaulttest.Start(t, vaulttest.Options{})
	proxy := vaulttest.NewProxy(t, srv.Addr())
	tr := MustTransit(t, vault.TransitOptions{Address: proxy.URL(), Token: srv.RootToken()})
	store := newMemStore()
	warm := MustOpen(t, vault.Options{Store: store, KEK: tr})
	MustTokenize(t, warm, randomPAN()) // warm has its data key cached

	for _, tc := range []struct {
		name   string
		fault  func()
		health string        // what Healthy() says
		within time.Duration // the bound on a Tokenize that needs Vault
	}{
		{"blackhole", func() { proxy.Blackhole(true) }, "vault: slow", callTimeout + 500*time.Millisecond},
		{"503", func() { proxy.FailWith(http.StatusServiceUnavailable) }, "vault: unavailable: HTTP 503", 500 * time.Millisecond},
		{"slow", func() { proxy.SetDelay(callTimeout + time.Second) }, "vault: slow", callTimeout + 500*time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// cold is another instance: its first Tokenize must make a data
			// key through Vault.
			cold := MustOpen(t, vault.Options{Store: store, KEK: tr})
			waitFor(t, 5*time.Second, "healthy before the fault", func() bool { return tr.Healthy() == nil })

			tc.fault()
			faultAt := time.Now()
			err := tokenizeErr(cold)
			took := time.Since(faultAt)
			t.Logf("%s: Tokenize needing Vault failed after %s: %v", tc.name, took.Round(time.Millisecond), err)
			if !errors.Is(err, vault.ErrKEKUnavailable) || took > tc.within {
				t.Errorf("Tokenize = %v after %s, want ErrKEKUnavailable within %s", err, took, tc.within)
			}

			// The probe notices too, and then the cached key serves no card.
			waitFor(t, callTimeout+2*healthInterval, "Healthy() reports the fault", func() bool {
				err := tr.Healthy()
				return err != nil && strings.HasPrefix(err.Error(), tc.health)
			})
			t.Logf("%s: unhealthy (%v) %s after the fault", tc.name, tr.Healthy(), time.Since(faultAt).Round(time.Millisecond))
			if err := tokenizeErr(warm); !errors.Is(err, vault.ErrKEKUnavailable) {
				t.Errorf("Tokenize with a cached key while unhealthy = %v, want ErrKEKUnavailable", err)
			}

			proxy.Pass()
			passAt := time.Now()
			waitFor(t, callTimeout+3*healthInterval, "recovery", func() bool { return tokenizeErr(warm) == nil })
			if err := tokenizeErr(cold); err != nil {
				t.Errorf("cold instance after Pass: %v", err)
			}
			t.Logf("%s: recovered %s after Pass", tc.name, time.Since(passAt).Round(time.Millisecond))

			// Again, with no card needing Vault: the probe alone must stop
			// the cached key from serving.
			tc.fault()
			faultAt = time.Now()
			took = waitFor(t, callTimeout+2*healthInterval, "cached key refused by the probe alone", func() bool {
				return errors.Is(tokenizeErr(warm), vault.ErrKEKUnavailable)
			})
			t.Logf("%s: cached key refused %s after the fault, by the probe alone", tc.name, took.Round(time.Millisecond))
			// Worst case: the fault starts just after a probe; the next one
			// starts an interval later and is "slow" half a call timeout on.
			if limit := healthInterval + callTimeout/2 + time.Second; took > limit {
				t.Errorf("probe took %s to fail closed, want within %s", took, limit)
			}
			proxy.Pass()
			waitFor(t, callTimeout+3*healthInterval, "recovery", func() bool { return tokenizeErr(warm) == nil })
		})
	}
}

func TestFailClosedServerRestart(t *testing.T) {
	srv := vaulttest.Start(t, vaulttest.Options{Persistent: true})
	tr := MustRootTransit(t, srv)
	store := newMemStore()
	v := MustOpen(t, vault.Options{Store: store, KEK: tr})
	pan := randomPAN()
	c := MustTokenize(t, v, pan)

	srv.Stop(t)
	stopAt := time.Now()
	waitFor(t, 3*healthInterval, "Tokenize refused with Vault down", func() bool {
		return errors.Is(tokenizeErr(v), vault.ErrKEKUnavailable)
	})
	t.Logf("stopped: Tokenize refused after %s: %v", time.Since(stopAt).Round(time.Millisecond), tokenizeErr(v))
	if err := tr.Healthy(); err == nil || !strings.HasPrefix(err.Error(), "vault: unreachable") {
		t.Errorf("Healthy() with Vault down = %v, want vault: unreachable", err)
	}

	// Started again (and unsealed): the Transit key survived, so a fresh
	// instance unwraps the old data key.
	srv.Start(t)
	waitFor(t, 3*healthInterval, "recovery after restart", func() bool { return tokenizeErr(v) == nil })
	v2 := MustOpen(t, vault.Options{Store: store, KEK: tr})
	if got := MustReveal(t, v2, c.Token); string(got) != pan {
		t.Errorf("Reveal after restart = %q, want %q", got, pan)
	}
	if st := v2.Stats(); st.KEKUnwrap == 0 {
		t.Errorf("fresh instance made no unwrap call: %+v", st)
	}
}
