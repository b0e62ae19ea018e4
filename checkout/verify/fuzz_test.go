package verify_test

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hostedcheckout/hostedcheckout/checkout/verify"
)

// FuzzVerify feeds Verify arbitrary strings: it must never panic, never
// accept anything but the one token really signed, and fail only with the
// package's errors.
func FuzzVerify(f *testing.F) {
	clk := newClock()
	now := clk.Now()
	key := MustKey(f)
	srv := MustKeyServer(f, map[string]*ecdsa.PrivateKey{"k1": key})
	v := MustVerifier(f, srv, clk)
	valid := MustToken(f, jwt.SigningMethodES256, key, "k1", claims(now), nil)
	h, p, s := split(valid)

	for _, seed := range []string{
		valid,
		"", ".", "..", "...", "a.b.c", "not a token",
		h + "." + p + ".",
		h + "." + p,
		valid + ".",
		b64(`{"alg":"none","typ":"`+verify.TokenType+`","kid":"k1"}`) + "." + p + ".",
		b64(`{"alg":"HS256","typ":"`+verify.TokenType+`","kid":"k1"}`) + "." + p + "." + s,
		b64(`{"alg":"ES256","typ":"`+verify.TokenType+`","kid":"k1","crit":["b64"]}`) + "." + p + "." + s,
		b64(`{"alg":"ES256","typ":"`+verify.TokenType+`","kid":{"a":1}}`) + "." + p + "." + s,
		b64(`{"alg":"ES256","typ":"`+verify.TokenType+`","kid":"k1"}`) + "." + b64(`{"exp":1e400,"iat":-1}`) + "." + s,
		b64(`{"alg":"ES256","typ":"`+verify.TokenType+`","kid":"k1"}`) + "." + b64(`{"aud":[1,2],"iss":null}`) + "." + s,
		b64(`null`) + "." + b64(`null`) + "." + s,
		strings.Repeat("A", 9000),
		MustToken(f, jwt.SigningMethodHS256, []byte("secret"), "k1", claims(now), nil),
	} {
		f.Add(seed)
	}
	known := []error{
		verify.ErrMalformed, verify.ErrAlgorithm, verify.ErrType, verify.ErrMissingKeyID,
		verify.ErrUnknownKey, verify.ErrSignature, verify.ErrIssuer, verify.ErrAudience,
		verify.ErrExpired, verify.ErrNotYetValid, verify.ErrMissingClaim, verify.ErrJWKS,
	}
	f.Fuzz(func(t *testing.T, token string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := v.Verify(ctx, token)
		if err == nil {
			if token != valid || res == nil {
				t.Fatalf("Verify accepted %q", token)
			}
			return
		}
		if res != nil {
			t.Fatalf("Verify returned claims with error %v", err)
		}
		for _, e := range known {
			if errors.Is(err, e) {
				return
			}
		}
		t.Fatalf("Verify(%q) failed with a foreign error: %v", token, err)
	})
}
