package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Errors of Verify. Each is returned wrapped or as is; test with errors.Is.
var (
	ErrMalformed    = errors.New("verify: malformed token")
	ErrAlgorithm    = errors.New("verify: signing algorithm not allowed (only ES256)")
	ErrType         = errors.New("verify: wrong token type (typ is not " + TokenType + ")")
	ErrMissingKeyID = errors.New("verify: token has no key id (kid)")
	ErrUnknownKey   = errors.New("verify: unknown signing key (kid not in the JWKS)")
	ErrSignature    = errors.New("verify: invalid signature")
	ErrIssuer       = errors.New("verify: wrong issuer")
	ErrAudience     = errors.New("verify: wrong audience (token is for another merchant)")
	ErrExpired      = errors.New("verify: token expired")
	ErrNotYetValid  = errors.New("verify: token not valid yet")
	ErrMissingClaim = errors.New("verify: token lacks a required claim (iss, aud, exp or iat)")
	ErrJWKS         = errors.New("verify: cannot fetch the checkout's signing keys (JWKS)")
)

// Defaults and limits of a Verifier.
const (
	DefaultLeeway     = 30 * time.Second
	DefaultMinRefetch = time.Minute
	DefaultMaxKeyAge  = time.Hour

	fetchTimeout  = 10 * time.Second
	maxJWKSBytes  = 64 << 10 // a JWKS holds a few keys; a bigger body is an attack or a mistake
	maxTokenBytes = 8 << 10  // a result is about 1 KiB; refuse work on anything far larger
)

// Options configure a Verifier. JWKSURL, Issuer and Audience are required.
type Options struct {
	// JWKSURL is the checkout's key set, e.g.
	// https://checkout.example/.well-known/jwks.json. It must be https
	// (plain http is allowed for localhost only): whoever can change the
	// keys in transit can forge results.
	JWKSURL string
	// Issuer is the checkout's base URL, the iss of every result.
	Issuer string
	// Audience is your merchant id; a result for another merchant is refused.
	Audience string
	// HTTPClient fetches the JWKS; default a client with a 10s timeout.
	HTTPClient *http.Client
	// Leeway is the clock skew allowed on exp, nbf and iat. Default 30s.
	Leeway time.Duration
	// MinRefetch is the least time between two fetches of the JWKS, so that
	// tokens with made-up kids cannot make the Verifier hammer the
	// checkout. Default 1 minute.
	MinRefetch time.Duration
	// MaxKeyAge is how long a fetched JWKS is trusted before it is fetched
	// again on the next Verify, so that a key the checkout withdrew stops
	// verifying. When that fetch fails the old keys are kept. Default 1h.
	MaxKeyAge time.Duration
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// Verifier checks signed checkout results against the checkout's JWKS. It
// is safe for concurrent use; make one per process and keep it.
type Verifier struct {
	opts   Options
	client *http.Client

	fetching chan struct{} // a one-slot semaphore: one JWKS fetch at a time

	mu          sync.Mutex
	keys        map[string]*ecdsa.PublicKey
	fetchedAt   time.Time // last successful fetch
	attemptedAt time.Time // last fetch, successful or not
	fetchErr    error     // error of the last fetch
}

// New returns a Verifier. It fetches nothing until the first Verify.
func New(opts Options) (*Verifier, error) {
	if opts.Issuer == "" || opts.Audience == "" {
		return nil, errors.New("verify: Options.Issuer and Options.Audience are required")
	}
	if err := checkJWKSURL(opts.JWKSURL); err != nil {
		return nil, err
	}
	if opts.Leeway < 0 || opts.MinRefetch < 0 || opts.MaxKeyAge < 0 {
		return nil, errors.New("verify: Options durations must not be negative")
	}
	if opts.Leeway == 0 {
		opts.Leeway = DefaultLeeway
	}
	if opts.MinRefetch == 0 {
		opts.MinRefetch = DefaultMinRefetch
	}
	if opts.MaxKeyAge == 0 {
		opts.MaxKeyAge = DefaultMaxKeyAge
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: fetchTimeout}
	}
	return &Verifier{opts: opts, client: client, fetching: make(chan struct{}, 1)}, nil
}

func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("verify: Options.JWKSURL must be an absolute https URL")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
	}
	return errors.New("verify: Options.JWKSURL must be https (http only for localhost): keys fetched in the clear can be replaced")
}

// Verify checks a signed checkout result and returns its claims. It accepts
// only ES256 (RFC 8725 section 3.1: no "none", no HMAC keyed with our public
// key), only typ TokenType (section 3.11), only our issuer and your merchant
// id as audience (section 3.9), and requires exp and iat. The key is looked
// up by kid in the checkout's JWKS, never taken from the token (jku, jwk and
// x5u headers are ignored). A valid result may arrive more than once (the
// checkout hands a paid session's result again, with the same jti): record
// its payment id (Result.Subject) with the order and act on each payment
// once; do not deduplicate on the token string.
func (v *Verifier) Verify(ctx context.Context, token string) (*Result, error) {
	if len(token) > maxTokenBytes {
		return nil, ErrMalformed
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
		jwt.WithIssuer(v.opts.Issuer),
		jwt.WithAudience(v.opts.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.opts.Leeway),
		jwt.WithTimeFunc(v.opts.Now),
		// Canonical base64 only: otherwise the spare bits of the last
		// character give one signature several spellings.
		jwt.WithStrictDecoding(),
	)
	claims := new(Result)
	var keyErr error // ours, clearer than the parser's wrapping of it
	tok, err := parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		k, err := v.keyFor(ctx, t)
		keyErr = err
		return k, err
	})
	if keyErr != nil {
		return nil, keyErr
	}
	if err != nil {
		return nil, classify(tok, err)
	}
	if claims.IssuedAt == nil {
		return nil, ErrMissingClaim
	}
	return claims, nil
}

// keyFor checks the header and returns the public key the token names.
func (v *Verifier) keyFor(ctx context.Context, t *jwt.Token) (*ecdsa.PublicKey, error) {
	// Checked again here although WithValidMethods did: the key returned
	// must only ever meet the algorithm it is for.
	if t.Method != jwt.SigningMethodES256 {
		return nil, ErrAlgorithm
	}
	if typ, _ := t.Header["typ"].(string); !typeOK(typ) {
		return nil, ErrType
	}
	// RFC 7515 section 4.1.11: extensions we do not understand must be refused.
	if _, ok := t.Header["crit"]; ok {
		return nil, fmt.Errorf("%w: unsupported crit header", ErrMalformed)
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, ErrMissingKeyID
	}
	return v.key(ctx, kid)
}

// typeOK compares typ as RFC 7515 section 4.1.9 says: case-insensitively,
// with the "application/" prefix optional.
func typeOK(typ string) bool {
	return strings.EqualFold(typ, TokenType) || strings.EqualFold(typ, "application/"+TokenType)
}

// classify turns the parser's error into one of ours.
func classify(tok *jwt.Token, err error) error {
	if errors.Is(err, jwt.ErrTokenMalformed) || tok == nil || tok.Header == nil {
		return ErrMalformed
	}
	if alg, _ := tok.Header["alg"].(string); alg != jwt.SigningMethodES256.Alg() {
		return ErrAlgorithm
	}
	switch {
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return ErrSignature
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return ErrIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return ErrAudience
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return ErrMissingClaim
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ErrNotYetValid
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}

// key returns the public key kid, fetching the JWKS at first use, when it
// is older than MaxKeyAge, and when kid is unknown, at most once per
// MinRefetch.
func (v *Verifier) key(ctx context.Context, kid string) (*ecdsa.PublicKey, error) {
	v.mu.Lock()
	k, ok := v.keys[kid]
	fresh := !v.fetchedAt.IsZero() && v.opts.Now().Sub(v.fetchedAt) < v.opts.MaxKeyAge
	v.mu.Unlock()
	if ok && fresh {
		return k, nil
	}
	if err := v.refresh(ctx); err != nil && !ok {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if k, ok := v.keys[kid]; ok {
		return k, nil
	}
	if v.keys == nil && v.fetchErr != nil {
		return nil, v.fetchErr
	}
	return nil, ErrUnknownKey
}

// refresh fetches the JWKS unless a fetch was attempted less than
// MinRefetch ago. Concurrent callers share one fetch.
func (v *Verifier) refresh(ctx context.Context) error {
	select {
	case v.fetching <- struct{}{}:
		defer func() { <-v.fetching }()
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrJWKS, ctx.Err())
	}
	v.mu.Lock()
	last := v.attemptedAt
	if !last.IsZero() && v.opts.Now().Sub(last) < v.opts.MinRefetch {
		v.mu.Unlock()
		return nil
	}
	v.attemptedAt = v.opts.Now()
	v.mu.Unlock()

	keys, err := v.fetch(ctx)

	v.mu.Lock()
	defer v.mu.Unlock()
	if err != nil {
		if ctx.Err() != nil {
			// The caller gave up; that says nothing about the checkout, so
			// it does not hold back the next caller.
			v.attemptedAt = last
		}
		v.fetchErr = fmt.Errorf("%w: %w", ErrJWKS, err)
		return v.fetchErr
	}
	v.keys, v.fetchedAt, v.fetchErr = keys, v.opts.Now(), nil
	return nil
}

// jwksDoc is the part of a JWKS the Verifier reads.
type jwksDoc struct {
	Keys []struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
		X   string `json:"x"`
		Y   string `json:"y"`
		Kid string `json:"kid"`
		Use string `json:"use"`
		Alg string `json:"alg"`
	} `json:"keys"`
}

// fetch downloads the JWKS and returns its EC P-256 signing keys by kid.
// Keys of any other type, curve, use or algorithm are skipped, never
// tried: a key is only ever used with the one algorithm it is for.
func (v *Verifier) fetch(ctx context.Context) (map[string]*ecdsa.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.opts.JWKSURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", v.opts.JWKSURL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read JWKS: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("JWKS is larger than %d bytes", maxJWKSBytes)
	}
	var doc jwksDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decode JWKS: %w", err)
	}
	keys := make(map[string]*ecdsa.PublicKey)
	for _, k := range doc.Keys {
		if k.Kty != "EC" || k.Crv != "P-256" || k.Kid == "" ||
			(k.Use != "" && k.Use != "sig") || (k.Alg != "" && k.Alg != jwt.SigningMethodES256.Alg()) {
			continue
		}
		if _, dup := keys[k.Kid]; dup {
			continue // the first key of a kid wins; a JWKS should not repeat one
		}
		if pub := parseP256(k.X, k.Y); pub != nil {
			keys[k.Kid] = pub
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("JWKS has no EC P-256 signing key")
	}
	return keys, nil
}

// parseP256 returns the point (x, y), or nil unless both are 32 bytes of
// canonical base64url and the point is on the curve.
func parseP256(x, y string) *ecdsa.PublicKey {
	enc := base64.RawURLEncoding.Strict()
	xb, err1 := enc.DecodeString(x)
	yb, err2 := enc.DecodeString(y)
	if err1 != nil || err2 != nil || len(xb) != 32 || len(yb) != 32 {
		return nil
	}
	point := append(append([]byte{4}, xb...), yb...)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil
	}
	return pub
}
