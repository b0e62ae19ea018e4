package vault_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/verify"
	"github.com/hostedcheckout/hostedcheckout/vault"
)

// The checkout consumes the vault through these interfaces.
var (
	_ checkout.Tokenizer    = (*vault.Vault)(nil)
	_ checkout.ResultSigner = (*vault.Vault)(nil)
)

const (
	testIssuer   = "https://checkout.test"
	testMerchant = "mer_test"
)

// testClaims returns result claims issued at now.
func testClaims(now time.Time) *verify.Result {
	return &verify.Result{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    testIssuer,
			Audience:  jwt.ClaimStrings{testMerchant},
			Subject:   "pay_1",
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(10 * time.Minute)),
			ID:        "jti_1",
		},
		SessionID: "cs_1",
		Amount:    1999,
		Currency:  "EUR",
		Status:    "succeeded",
		Card:      verify.Card{Brand: "visa", Last4: "4242"},
	}
}

// MustSign signs test claims at the vault's now and returns the token and its kid.
func MustSign(tb testing.TB, v *vault.Vault, now time.Time) (token, kid string) {
	tb.Helper()
	token, err := v.Sign(context.Background(), testClaims(now))
	if err != nil {
		tb.Fatalf("Sign: %v", err)
	}
	var header struct{ Kid string }
	seg, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil || json.Unmarshal(b, &header) != nil {
		tb.Fatalf("token header %q does not decode", seg)
	}
	return token, header.Kid
}

// kids returns the kids of the vault's JWKS.
func kids(v *vault.Vault) []string {
	var out []string
	for _, k := range v.JWKS().Keys {
		out = append(out, k.Kid)
	}
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}

// MustPublicKey decodes a JWK.
func MustPublicKey(tb testing.TB, k vault.JWK) *ecdsa.PublicKey {
	tb.Helper()
	x, err1 := base64.RawURLEncoding.DecodeString(k.X)
	y, err2 := base64.RawURLEncoding.DecodeString(k.Y)
	if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
		tb.Fatalf("JWK %s: x, y are not 32 bytes of base64url", k.Kid)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		tb.Fatalf("JWK %s: %v", k.Kid, err)
	}
	return pub
}

func TestSign(t *testing.T) {
	clk := newClock()
	v := MustOpen(t, vault.Options{Now: clk.Now})
	token, _ := MustSign(t, v, clk.Now())
	jwks := v.JWKS()
	if len(jwks.Keys) != 1 {
		t.Fatalf("JWKS has %d keys, want 1", len(jwks.Keys))
	}
	pub := MustPublicKey(t, jwks.Keys[0])

	claims := new(verify.Result)
	tok, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithTimeFunc(clk.Now))
	if err != nil {
		t.Fatalf("token does not verify with the JWKS key: %v", err)
	}
	for name, want := range map[string]string{"alg": "ES256", "typ": verify.TokenType, "kid": jwks.Keys[0].Kid} {
		if got := tok.Header[name]; got != want {
			t.Errorf("header %s = %v, want %q", name, got, want)
		}
	}
	if claims.Subject != "pay_1" || claims.Amount != 1999 || claims.Card.Last4 != "4242" {
		t.Errorf("claims round trip: %+v", claims)
	}
}

func TestJWKSJSON(t *testing.T) {
	v := MustOpen(t, vault.Options{})
	b, err := v.JWKSJSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Keys []map[string]string }
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("JWKSJSON %s: %v", b, err)
	}
	if len(doc.Keys) != 1 {
		t.Fatalf("JWKSJSON has %d keys: %s", len(doc.Keys), b)
	}
	k := doc.Keys[0]
	want := map[string]string{"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": v.JWKS().Keys[0].Kid, "x": k["x"], "y": k["y"]}
	if len(k) != len(want) {
		t.Errorf("JWK has members %v, want exactly %v", k, want)
	}
	for name, w := range want {
		if k[name] != w {
			t.Errorf("JWK %s = %q, want %q", name, k[name], w)
		}
	}
	// 32 bytes in unpadded base64url are 43 characters.
	if len(k["x"]) != 43 || len(k["y"]) != 43 {
		t.Errorf("x, y are %d, %d characters, want 43 (fixed 32 bytes)", len(k["x"]), len(k["y"]))
	}
}

func TestRotateSigningKey(t *testing.T) {
	const ttl = 10 * time.Minute
	tests := []struct {
		name  string
		delay time.Duration
	}{
		{"no publish delay", 0},
		{"publish delay", 5 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			clk := newClock()
			v := MustOpen(t, vault.Options{Now: clk.Now, ResultTTL: ttl, PublishDelay: tt.delay})
			oldToken, oldKid := MustSign(t, v, clk.Now())

			newKid, err := v.RotateSigningKey(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if newKid == oldKid {
				t.Fatal("rotation kept the kid")
			}
			// The new key is published at once, before it signs.
			if got, want := kids(v), sorted(oldKid, newKid); !slices.Equal(got, want) {
				t.Errorf("JWKS after rotation = %v, want %v", got, want)
			}
			if _, kid := MustSign(t, v, clk.Now()); tt.delay > 0 && kid != oldKid {
				t.Errorf("during the publish delay Sign used %s, want the old key %s", kid, oldKid)
			}
			clk.Advance(tt.delay)
			if _, kid := MustSign(t, v, clk.Now()); kid != newKid {
				t.Errorf("after the publish delay Sign used %s, want the new key %s", kid, newKid)
			}

			// The old key stays while tokens it signed live (plus leeway).
			clk.Advance(ttl)
			if got, want := kids(v), sorted(oldKid, newKid); !slices.Equal(got, want) {
				t.Errorf("JWKS %v after ResultTTL, want %v until the leeway passes", got, want)
			}
			pub := MustPublicKey(t, v.JWKS().Keys[slices.IndexFunc(v.JWKS().Keys, func(k vault.JWK) bool { return k.Kid == oldKid })])
			if _, err := jwt.Parse(oldToken, func(*jwt.Token) (any, error) { return pub, nil }, jwt.WithoutClaimsValidation()); err != nil {
				t.Errorf("old token does not verify with the published old key: %v", err)
			}
			clk.Advance(time.Minute + time.Second)
			if got, want := kids(v), []string{newKid}; !slices.Equal(got, want) {
				t.Errorf("JWKS %v after ResultTTL and leeway, want %v", got, want)
			}
		})
	}
}

func TestRotationSeenByOtherInstance(t *testing.T) {
	ctx := context.Background()
	store, kek, clk := newMemStore(), MustLocalKEK(t), newClock()
	a := MustOpen(t, vault.Options{Store: store, KEK: kek, Now: clk.Now})
	b := MustOpen(t, vault.Options{Store: store, KEK: kek, Now: clk.Now})
	_, oldKid := MustSign(t, b, clk.Now())

	newKid, err := a.RotateSigningKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, kid := MustSign(t, b, clk.Now()); kid != oldKid {
		t.Errorf("b reloaded before its interval: signed with %s", kid)
	}
	clk.Advance(31 * time.Second)
	if _, kid := MustSign(t, b, clk.Now()); kid != newKid {
		t.Errorf("b signs with %s 31s after a rotated, want %s", kid, newKid)
	}
	if got, want := kids(b), sorted(oldKid, newKid); !slices.Equal(got, want) {
		t.Errorf("b's JWKS = %v, want %v", got, want)
	}
}

// staleStore answers its first Secrets call with rows read earlier: it plays
// an instance that listed the keys just before another inserted one.
type staleStore struct {
	*memStore
	stale []vault.StoredSecret
	used  bool
}

func (s *staleStore) Secrets(ctx context.Context, kind string) ([]vault.StoredSecret, error) {
	if kind == vault.SecretSigningKey && s.stale != nil && !s.used {
		s.used = true
		return s.stale, nil
	}
	return s.memStore.Secrets(ctx, kind)
}

func TestConcurrentRotations(t *testing.T) {
	tests := []struct {
		name        string
		interleaved bool // b lists the keys before a's new key is stored
	}{
		{"one after the other", false},
		{"interleaved", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			store, kek, clk := newMemStore(), MustLocalKEK(t), newClock()
			a := MustOpen(t, vault.Options{Store: store, KEK: kek, Now: clk.Now})
			bStore := &staleStore{memStore: store}
			b := MustOpen(t, vault.Options{Store: bStore, KEK: kek, Now: clk.Now})
			if tt.interleaved {
				bStore.stale, _ = store.Secrets(ctx, vault.SecretSigningKey)
			}
			ka, err := a.RotateSigningKey(ctx)
			if err != nil {
				t.Fatal(err)
			}
			kb, err := b.RotateSigningKey(ctx)
			if err != nil {
				t.Fatal(err)
			}
			clk.Advance(time.Hour) // every retirement has taken effect and expired
			_, sa := MustSign(t, a, clk.Now())
			_, sb := MustSign(t, b, clk.Now())
			if sa != sb || (sa != ka && sa != kb) {
				t.Errorf("after rotations %s and %s the instances sign with %s and %s, want the same one of them", ka, kb, sa, sb)
			}
			want := []string{kb} // b's rotation superseded a's
			if tt.interleaved {
				want = sorted(ka, kb) // neither saw the other: both stay until the next rotation
			}
			if got := kids(a); !slices.Equal(got, want) {
				t.Errorf("JWKS = %v, want %v", got, want)
			}
		})
	}
}

func TestVerifierAcceptsVaultResults(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	v := MustOpen(t, vault.Options{Now: clk.Now})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := v.JWKSJSON()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(b)
	}))
	defer srv.Close()
	ver, err := verify.New(verify.Options{JWKSURL: srv.URL, Issuer: testIssuer, Audience: testMerchant, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}

	token, _ := MustSign(t, v, clk.Now())
	res, err := ver.Verify(ctx, token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if res.Subject != "pay_1" || res.Amount != 1999 {
		t.Errorf("Verify = %+v", res)
	}

	// After a rotation, the verifier refetches on the new kid.
	if _, err := v.RotateSigningKey(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	token, _ = MustSign(t, v, clk.Now())
	if _, err := ver.Verify(ctx, token); err != nil {
		t.Errorf("Verify after rotation: %v", err)
	}
}
