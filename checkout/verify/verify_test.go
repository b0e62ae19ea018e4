package verify_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hostedcheckout/hostedcheckout/checkout/verify"
)

const (
	issuer   = "https://checkout.test"
	merchant = "mer_1"
)

// keyServer serves a JWKS over a real socket and counts fetches.
type keyServer struct {
	*httptest.Server
	fetches atomic.Int32

	mu   sync.Mutex
	keys []map[string]string
	body []byte // when set, served instead of the keys
	code int    // when set, served instead of 200
}

// MustKeyServer starts a JWKS server publishing keys by kid.
func MustKeyServer(tb testing.TB, keys map[string]*ecdsa.PrivateKey) *keyServer {
	tb.Helper()
	s := &keyServer{}
	s.publish(keys)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.code != 0 {
			w.WriteHeader(s.code)
			return
		}
		body := s.body
		if body == nil {
			body, _ = json.Marshal(map[string]any{"keys": s.keys})
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(body)
	}))
	tb.Cleanup(s.Close)
	return s
}

// publish replaces the served keys.
func (s *keyServer) publish(keys map[string]*ecdsa.PrivateKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = nil
	for kid, k := range keys {
		s.keys = append(s.keys, jwkOf(kid, &k.PublicKey))
	}
}

func (s *keyServer) serve(code int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.code, s.body = code, body
}

func jwkOf(kid string, pub *ecdsa.PublicKey) map[string]string {
	b, err := pub.Bytes()
	if err != nil {
		panic(err)
	}
	n := (len(b) - 1) / 2
	crv := map[int]string{32: "P-256", 48: "P-384"}[n]
	return map[string]string{
		"kty": "EC", "crv": crv, "kid": kid, "use": "sig", "alg": "ES256",
		"x": base64.RawURLEncoding.EncodeToString(b[1 : 1+n]),
		"y": base64.RawURLEncoding.EncodeToString(b[1+n:]),
	}
}

// MustKey returns a new P-256 key.
func MustKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// clock is a settable Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

// MustVerifier returns a Verifier of srv's keys on clk.
func MustVerifier(tb testing.TB, srv *keyServer, clk *clock) *verify.Verifier {
	tb.Helper()
	v, err := verify.New(verify.Options{JWKSURL: srv.URL, Issuer: issuer, Audience: merchant, Now: clk.Now})
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// claims returns valid result claims at now, as a map so that cases can
// change or drop any of them.
func claims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":        issuer,
		"aud":        merchant,
		"sub":        "pay_1",
		"iat":        now.Unix(),
		"exp":        now.Add(10 * time.Minute).Unix(),
		"jti":        "jti_1",
		"session_id": "cs_1",
		"amount":     1999,
		"currency":   "EUR",
		"status":     "succeeded",
		"card":       map[string]any{"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2031},
	}
}

// MustToken signs c with method and key, with header typ TokenType and kid,
// then applies header changes (a nil value deletes the member).
func MustToken(tb testing.TB, method jwt.SigningMethod, key any, kid string, c jwt.Claims, header map[string]any) string {
	tb.Helper()
	t := jwt.NewWithClaims(method, c)
	t.Header["typ"] = verify.TokenType
	t.Header["kid"] = kid
	for k, v := range header {
		if v == nil {
			delete(t.Header, k)
		} else {
			t.Header[k] = v
		}
	}
	s, err := t.SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestVerify(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	key, other := MustKey(t), MustKey(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srv := MustKeyServer(t, map[string]*ecdsa.PrivateKey{"k1": key})
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	point, _ := key.PublicKey.Bytes()
	jwkJSON, _ := json.Marshal(jwkOf("k1", &key.PublicKey))

	valid := MustToken(t, jwt.SigningMethodES256, key, "k1", claims(now), nil)
	with := func(name string, value any) jwt.MapClaims {
		c := claims(now)
		if value == nil {
			delete(c, name)
		} else {
			c[name] = value
		}
		return c
	}
	es256 := func(c jwt.Claims, header map[string]any) string {
		return MustToken(t, jwt.SigningMethodES256, key, "k1", c, header)
	}
	hs256 := func(secret []byte) string {
		return MustToken(t, jwt.SigningMethodHS256, secret, "k1", claims(now), nil)
	}
	h, p, s := split(valid)

	tests := []struct {
		name  string
		token string
		want  error // nil: accepted
	}{
		{"valid", valid, nil},
		{"typ with application/ prefix", es256(claims(now), map[string]any{"typ": "application/" + verify.TokenType}), nil},
		{"expired within leeway", es256(with("exp", now.Add(-10*time.Second).Unix()), nil), nil},
		{"audience list containing ours", es256(with("aud", []string{"mer_other", merchant}), nil), nil},

		{"alg none", MustToken(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "k1", claims(now), nil), verify.ErrAlgorithm},
		{"alg none, hand-made", b64(`{"alg":"none","typ":"`+verify.TokenType+`","kid":"k1"}`) + "." + p + ".", verify.ErrAlgorithm},
		{"HS256 keyed with the public key DER", hs256(der), verify.ErrAlgorithm},
		{"HS256 keyed with the public key point", hs256(point), verify.ErrAlgorithm},
		{"HS256 keyed with the JWK JSON", hs256(jwkJSON), verify.ErrAlgorithm},
		{"ES384", MustToken(t, jwt.SigningMethodES384, p384, "k1", claims(now), nil), verify.ErrAlgorithm},
		{"no alg", b64(`{"typ":"`+verify.TokenType+`","kid":"k1"}`) + "." + p + "." + s, verify.ErrAlgorithm},

		{"wrong audience", es256(with("aud", "mer_other"), nil), verify.ErrAudience},
		{"no audience", es256(with("aud", nil), nil), verify.ErrMissingClaim},
		{"wrong issuer", es256(with("iss", "https://evil.test"), nil), verify.ErrIssuer},
		{"no issuer", es256(with("iss", nil), nil), verify.ErrMissingClaim},
		{"expired", es256(with("exp", now.Add(-time.Hour).Unix()), nil), verify.ErrExpired},
		{"no exp", es256(with("exp", nil), nil), verify.ErrMissingClaim},
		{"no iat", es256(with("iat", nil), nil), verify.ErrMissingClaim},
		{"iat in the future", es256(with("iat", now.Add(time.Hour).Unix()), nil), verify.ErrNotYetValid},
		{"nbf in the future", es256(with("nbf", now.Add(time.Hour).Unix()), nil), verify.ErrNotYetValid},

		{"unknown kid", MustToken(t, jwt.SigningMethodES256, other, "k2", claims(now), nil), verify.ErrUnknownKey},
		{"unknown kid with jku", MustToken(t, jwt.SigningMethodES256, other, "k2", claims(now), map[string]any{"jku": "https://evil.test/jwks"}), verify.ErrUnknownKey},
		{"missing kid", es256(claims(now), map[string]any{"kid": nil}), verify.ErrMissingKeyID},
		{"empty kid", es256(claims(now), map[string]any{"kid": ""}), verify.ErrMissingKeyID},
		{"kid not a string", es256(claims(now), map[string]any{"kid": 1}), verify.ErrMissingKeyID},
		{"wrong typ", es256(claims(now), map[string]any{"typ": "JWT"}), verify.ErrType},
		{"missing typ", es256(claims(now), map[string]any{"typ": nil}), verify.ErrType},
		{"crit header", es256(claims(now), map[string]any{"crit": []string{"exp"}}), verify.ErrMalformed},

		{"tampered payload", h + "." + b64(strings.Replace(decode(p), `"amount":1999`, `"amount":1`, 1)) + "." + s, verify.ErrSignature},
		{"tampered header", b64(strings.Replace(decode(h), `"kid":"k1"`, `"kid":"k1","x":1`, 1)) + "." + p + "." + s, verify.ErrSignature},
		{"signed by another key under our kid", MustToken(t, jwt.SigningMethodES256, other, "k1", claims(now), nil), verify.ErrSignature},
		{"signature of another token", h + "." + p + "." + sig(es256(with("sub", "pay_2"), nil)), verify.ErrSignature},
		{"no signature", h + "." + p + ".", verify.ErrSignature},
		{"non-canonical base64 signature", h + "." + p + "." + s[:len(s)-1] + flipSpareBits(s[len(s)-1:]), verify.ErrMalformed},

		{"empty", "", verify.ErrMalformed},
		{"garbage", "not a token", verify.ErrMalformed},
		{"two segments", h + "." + p, verify.ErrMalformed},
		{"four segments", valid + ".x", verify.ErrMalformed},
		{"header not JSON", b64("nope") + "." + p + "." + s, verify.ErrMalformed},
		{"claim of the wrong type", es256(with("exp", "tomorrow"), nil), verify.ErrMalformed},
		{"huge", strings.Repeat("a", 100<<10), verify.ErrMalformed},
	}
	v := MustVerifier(t, srv, clk)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := v.Verify(context.Background(), tt.token)
			if tt.want == nil {
				if err != nil || res == nil {
					t.Fatalf("Verify = %v, %v; want accepted", res, err)
				}
				if res.Subject != "pay_1" || res.Amount != 1999 || res.Card.Last4 != "4242" || res.IssuedAt == nil {
					t.Errorf("Verify claims = %+v", res)
				}
				return
			}
			if !errors.Is(err, tt.want) || res != nil {
				t.Fatalf("Verify = %v, %v; want %v", res, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "verify: ") {
				t.Errorf("error %q does not say where it comes from", err)
			}
		})
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Errorf("the JWKS was fetched %d times, want 1 (unknown kids are rate limited)", n)
	}
}

func TestRefetchOnUnknownKid(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	k1, k2 := MustKey(t), MustKey(t)
	srv := MustKeyServer(t, map[string]*ecdsa.PrivateKey{"k1": k1})
	v := MustVerifier(t, srv, clk)
	token := func(key *ecdsa.PrivateKey, kid string) string {
		return MustToken(t, jwt.SigningMethodES256, key, kid, claims(clk.Now()), nil)
	}
	wantFetches := func(want int32) {
		t.Helper()
		if got := srv.fetches.Load(); got != want {
			t.Fatalf("JWKS fetched %d times, want %d", got, want)
		}
	}

	if _, err := v.Verify(ctx, token(k1, "k1")); err != nil {
		t.Fatal(err)
	}
	wantFetches(1)
	if _, err := v.Verify(ctx, token(k1, "k1")); err != nil {
		t.Fatal(err)
	}
	wantFetches(1) // cached

	// The checkout rotates. Within MinRefetch of the last fetch the new kid
	// is unknown and nothing is fetched.
	srv.publish(map[string]*ecdsa.PrivateKey{"k1": k1, "k2": k2})
	clk.Advance(30 * time.Second)
	if _, err := v.Verify(ctx, token(k2, "k2")); !errors.Is(err, verify.ErrUnknownKey) {
		t.Fatalf("Verify(k2) within MinRefetch = %v, want ErrUnknownKey", err)
	}
	wantFetches(1)
	clk.Advance(30 * time.Second)
	if _, err := v.Verify(ctx, token(k2, "k2")); err != nil {
		t.Fatalf("Verify(k2) after MinRefetch: %v", err)
	}
	wantFetches(2)

	// A flood of made-up kids costs one fetch per MinRefetch.
	for i := range 50 {
		if i == 25 {
			clk.Advance(time.Minute)
		}
		if _, err := v.Verify(ctx, token(k2, "made-up-"+string(rune('a'+i)))); !errors.Is(err, verify.ErrUnknownKey) {
			t.Fatalf("Verify(made-up kid) = %v, want ErrUnknownKey", err)
		}
	}
	wantFetches(3)

	// Known keys keep verifying while the checkout is down.
	srv.serve(http.StatusInternalServerError, nil)
	clk.Advance(2 * time.Hour) // past MaxKeyAge
	if _, err := v.Verify(ctx, token(k1, "k1")); err != nil {
		t.Errorf("Verify with the JWKS down and a cached key: %v", err)
	}
	wantFetches(4)

	// A key the checkout withdrew stops verifying after MaxKeyAge.
	srv.serve(0, nil)
	srv.publish(map[string]*ecdsa.PrivateKey{"k2": k2})
	clk.Advance(2 * time.Hour)
	if _, err := v.Verify(ctx, token(k1, "k1")); !errors.Is(err, verify.ErrUnknownKey) {
		t.Errorf("Verify with a withdrawn key = %v, want ErrUnknownKey", err)
	}
	wantFetches(5)
}

func TestConcurrentFirstUse(t *testing.T) {
	clk := newClock()
	key := MustKey(t)
	srv := MustKeyServer(t, map[string]*ecdsa.PrivateKey{"k1": key})
	v := MustVerifier(t, srv, clk)
	token := MustToken(t, jwt.SigningMethodES256, key, "k1", claims(clk.Now()), nil)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), token); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := srv.fetches.Load(); n != 1 {
		t.Errorf("20 concurrent first verifications fetched the JWKS %d times, want 1", n)
	}
}

func TestFetchJWKS(t *testing.T) {
	key := MustKey(t)
	good := jwkOf("k1", &key.PublicKey)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	keys := func(ks ...map[string]string) []byte {
		b, _ := json.Marshal(map[string]any{"keys": ks})
		return b
	}
	with := func(name, value string) map[string]string {
		k := jwkOf("k1", &key.PublicKey)
		k[name] = value
		return k
	}
	tests := []struct {
		name string
		code int
		body []byte
		want error // nil: the token verifies
	}{
		{"good", 0, keys(good), nil},
		{"other keys skipped", 0, keys(map[string]string{"kty": "RSA", "kid": "r1", "n": "AQAB", "e": "AQAB"}, jwkOf("p384", &p384.PublicKey), good), nil},
		{"server error", http.StatusInternalServerError, nil, verify.ErrJWKS},
		{"not JSON", 0, []byte("<html>"), verify.ErrJWKS},
		{"too large", 0, append(keys(good)[:len(keys(good))-1], []byte(`,"pad":"`+strings.Repeat("a", 64<<10)+`"}`)...), verify.ErrJWKS},
		{"no usable key", 0, keys(jwkOf("k1", &p384.PublicKey)), verify.ErrJWKS},
		{"kty RSA under our kid", 0, keys(with("kty", "RSA")), verify.ErrJWKS},
		{"encryption key", 0, keys(with("use", "enc")), verify.ErrJWKS},
		{"other alg", 0, keys(with("alg", "ES384")), verify.ErrJWKS},
		{"short x", 0, keys(with("x", base64.RawURLEncoding.EncodeToString(make([]byte, 31)))), verify.ErrJWKS},
		{"point not on the curve", 0, keys(with("y", base64.RawURLEncoding.EncodeToString(make([]byte, 32)))), verify.ErrJWKS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			srv := MustKeyServer(t, nil)
			srv.serve(tt.code, tt.body)
			v := MustVerifier(t, srv, clk)
			_, err := v.Verify(context.Background(), MustToken(t, jwt.SigningMethodES256, key, "k1", claims(clk.Now()), nil))
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}

	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		defer close(release)
		v, err := verify.New(verify.Options{JWKSURL: srv.URL, Issuer: issuer, Audience: merchant, HTTPClient: &http.Client{Timeout: 100 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(context.Background(), MustToken(t, jwt.SigningMethodES256, key, "k1", claims(time.Now()), nil))
		if !errors.Is(err, verify.ErrJWKS) {
			t.Errorf("Verify with a hanging JWKS = %v, want ErrJWKS", err)
		}
	})
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		opts verify.Options
		ok   bool
	}{
		{"https", verify.Options{JWKSURL: "https://checkout.example/.well-known/jwks.json", Issuer: issuer, Audience: merchant}, true},
		{"http localhost", verify.Options{JWKSURL: "http://localhost:8080/.well-known/jwks.json", Issuer: issuer, Audience: merchant}, true},
		{"http loopback IPv6", verify.Options{JWKSURL: "http://[::1]:8080/jwks", Issuer: issuer, Audience: merchant}, true},
		{"http elsewhere", verify.Options{JWKSURL: "http://checkout.example/.well-known/jwks.json", Issuer: issuer, Audience: merchant}, false},
		{"relative", verify.Options{JWKSURL: "/.well-known/jwks.json", Issuer: issuer, Audience: merchant}, false},
		{"no issuer", verify.Options{JWKSURL: "https://checkout.example/jwks", Audience: merchant}, false},
		{"no audience", verify.Options{JWKSURL: "https://checkout.example/jwks", Issuer: issuer}, false},
		{"negative leeway", verify.Options{JWKSURL: "https://checkout.example/jwks", Issuer: issuer, Audience: merchant, Leeway: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := verify.New(tt.opts)
			if (err == nil) != tt.ok || (v != nil) != tt.ok {
				t.Errorf("New = %v, %v; want ok %v", v, err, tt.ok)
			}
		})
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func decode(seg string) string {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func split(token string) (header, payload, signature string) {
	parts := strings.Split(token, ".")
	return parts[0], parts[1], parts[2]
}

func sig(token string) string { _, _, s := split(token); return s }

// flipSpareBits returns the last base64url character of a 64-byte signature
// with its lowest (unused) bit flipped: the same bytes, spelled differently.
func flipSpareBits(c string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	return string(alphabet[strings.Index(alphabet, c)^1])
}
