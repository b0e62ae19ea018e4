package vault

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
)

// Defaults of TransitOptions.
const (
	DefaultTransitMount       = "transit"
	DefaultTransitKey         = "checkout"
	DefaultAppRoleMount       = "approle"
	DefaultTransitCallTimeout = 2 * time.Second
	DefaultHealthInterval     = time.Second
)

// maxTransitResponse caps what is read of one Vault answer: a data key
// answer is a few hundred bytes.
const maxTransitResponse = 1 << 20

// TransitOptions configure a Transit KEK. Address and one of Token or
// AppRole are required. Nothing is read from VAULT_* environment variables:
// where the KEK is and whom it trusts is configured here only, so that a
// stray VAULT_SKIP_VERIFY or VAULT_ADDR cannot redirect or weaken it.
type TransitOptions struct {
	// Address of Vault, e.g. "https://vault.internal:8200". Plain http is
	// refused except to a loopback address (development and tests): data
	// keys cross this connection in clear (PCI DSS 4.2.1).
	Address string
	// CACert is a PEM file of the CA(s) that sign Vault's certificate. When
	// set, only these are trusted, not the system roots. TLS 1.2 at least.
	CACert string

	// Token is a Vault token, renewed by whoever issued it (e.g. Vault
	// Agent). Exclusive with AppRole.
	Token string
	// AppRole logs in with a role id and secret id, keeps the token renewed
	// and logs in again when renewal fails.
	AppRole AppRoleAuth

	// Mount is where the Transit engine is mounted; default "transit".
	Mount string
	// Key is the Transit key's name; default "checkout".
	Key string

	// CallTimeout bounds every call to Vault, each with its own deadline,
	// and the client neither retries nor waits longer: a checkout must fail
	// fast rather than hang on a sick Vault. Default 2s.
	CallTimeout time.Duration
	// HealthInterval is how often sys/health is probed. Default 1s.
	HealthInterval time.Duration

	// Logger gets renewal and login failures (never tokens or secret ids).
	// Default slog.Default().
	Logger *slog.Logger
}

// AppRoleAuth is an AppRole login. The secret id is kept in memory for
// logging in again; it is never logged.
type AppRoleAuth struct {
	MountPath string // default "approle"
	RoleID    string
	SecretID  string
}

// Transit is a KeyEncrypter backed by HashiCorp Vault's Transit engine: data
// keys come from {mount}/datakey/plaintext/{key} and are unwrapped by
// {mount}/decrypt/{key}; the KEK itself never leaves Vault (PCI DSS 3.6.1).
// A background probe of sys/health makes Healthy fail within about one
// HealthInterval of Vault being sealed, so that the Vault type fails closed.
// It is safe for concurrent use.
type Transit struct {
	opts      TransitOptions // with defaults filled in
	id        string
	log       *slog.Logger
	client    *api.Client // carries the token
	login     *api.Client // never carries a token: AppRole login only
	appRole   bool
	slowAfter time.Duration // an unanswered health probe older than this is "slow"

	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	relogin chan struct{} // asks the auth loop to log in again now
	once    sync.Once

	hmu        sync.Mutex
	herr       error     // the last probe's verdict, or a failed call's since
	probeStart time.Time // when the probe in flight started; zero when none
}

var (
	_ KeyEncrypter   = (*Transit)(nil)
	_ HealthReporter = (*Transit)(nil)
	_ Rewrapper      = (*Transit)(nil)
)

// kekError is a KEK availability error: its message stays short ("vault:
// sealed") and it matches ErrKEKUnavailable.
type kekError struct {
	msg string
	err error // the cause, if any
}

func (e *kekError) Error() string        { return e.msg }
func (e *kekError) Unwrap() error        { return e.err }
func (e *kekError) Is(target error) bool { return target == ErrKEKUnavailable }

var errTransitClosed = &kekError{msg: "vault: transit: closed"}

// NewTransit returns a Transit KEK. It logs in (AppRole) and probes
// sys/health once before returning, so that a wrong address, CA, role or a
// sealed Vault fails at start with a clear error rather than at the first
// payment. ctx bounds only that start; Close stops the background probe
// and token renewal.
func NewTransit(ctx context.Context, opts TransitOptions) (*Transit, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	httpClient, err := transitHTTPClient(opts)
	if err != nil {
		return nil, err
	}
	client, err := newAPIClient(opts.Address, httpClient)
	if err != nil {
		return nil, err
	}
	t := &Transit{
		opts:      opts,
		id:        "transit:" + opts.Mount + "/" + opts.Key,
		log:       opts.Logger,
		client:    client,
		appRole:   opts.AppRole.RoleID != "",
		slowAfter: opts.CallTimeout / 2,
		relogin:   make(chan struct{}, 1),
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	var ttl time.Duration
	if t.appRole {
		if t.login, err = newAPIClient(opts.Address, httpClient); err != nil {
			return nil, err
		}
		if ttl, err = t.doLogin(ctx); err != nil {
			t.cancel()
			return nil, err
		}
	} else {
		client.SetToken(opts.Token)
	}
	if err := t.probe(ctx); err != nil {
		t.Close()
		return nil, fmt.Errorf("vault: transit: first contact with %s: %w", opts.Address, err)
	}
	t.wg.Add(1)
	go t.probeLoop()
	if t.appRole {
		t.wg.Add(1)
		go t.authLoop(ttl)
	}
	return t, nil
}

func (o *TransitOptions) setDefaults() error {
	u, err := url.Parse(o.Address)
	switch {
	case o.Address == "" || err != nil || u.Host == "":
		return errors.New("vault: TransitOptions.Address must be a URL like https://vault.internal:8200")
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("vault: TransitOptions.Address: scheme %q: want https", u.Scheme)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		// Data keys travel in these answers: never in clear over a network.
		return errors.New("vault: TransitOptions.Address: plain http is allowed to a loopback address only; use https")
	case u.Scheme == "http" && o.CACert != "":
		return errors.New("vault: TransitOptions.CACert is set but Address is plain http")
	case (o.Token == "") == (o.AppRole.RoleID == ""):
		return errors.New("vault: TransitOptions: set exactly one of Token or AppRole")
	case o.AppRole.RoleID != "" && o.AppRole.SecretID == "":
		return errors.New("vault: TransitOptions.AppRole.SecretID is required")
	case o.CallTimeout < 0, o.HealthInterval < 0:
		return errors.New("vault: TransitOptions durations must not be negative")
	}
	if o.Mount == "" {
		o.Mount = DefaultTransitMount
	}
	if o.Key == "" {
		o.Key = DefaultTransitKey
	}
	if o.AppRole.MountPath == "" {
		o.AppRole.MountPath = DefaultAppRoleMount
	}
	o.Mount = strings.Trim(o.Mount, "/")
	o.AppRole.MountPath = strings.Trim(o.AppRole.MountPath, "/")
	if err := checkTransitName("mount", o.Mount, true); err != nil {
		return err
	}
	if err := checkTransitName("key", o.Key, false); err != nil {
		return err
	}
	if err := checkTransitName("AppRole mount", o.AppRole.MountPath, true); err != nil {
		return err
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = DefaultTransitCallTimeout
	}
	if o.HealthInterval == 0 {
		o.HealthInterval = DefaultHealthInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// transitHTTPClient returns the HTTP client every Vault call goes through:
// TLS 1.2+, verified against opts.CACert only when given, and every stage of
// a call (dial, handshake, headers, whole exchange) bounded by CallTimeout.
func transitHTTPClient(opts TransitOptions) (*http.Client, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12} // PCI DSS 4.2.1: strong cryptography in transit
	if opts.CACert != "" {
		pem, err := os.ReadFile(opts.CACert)
		if err != nil {
			return nil, fmt.Errorf("vault: TransitOptions.CACert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("vault: TransitOptions.CACert: %s holds no PEM certificate", opts.CACert)
		}
		// Only the operator's CA: a certificate from any public CA for the
		// Vault host name must not be enough to receive data keys.
		tlsConfig.RootCAs = pool
	}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: opts.CallTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   opts.CallTimeout,
		ResponseHeaderTimeout: opts.CallTimeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		// A dead HTTP/2 connection is noticed by ping and dropped, rather
		// than every call on it timing out.
		HTTP2: &http.HTTP2Config{SendPingTimeout: 10 * time.Second, PingTimeout: opts.CallTimeout},
	}
	return &http.Client{
		Transport: transport,
		Timeout:   opts.CallTimeout,
		// The api client follows Vault's redirects itself (standby to
		// active), refusing https to http downgrades.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// newAPIClient returns a Vault API client that never retries and has no
// timeout of its own (each call carries its own deadline; the api client's
// own timeout would cancel a raw answer before its body is read), with no
// token, namespace or headers taken from the environment.
func newAPIClient(address string, httpClient *http.Client) (*api.Client, error) {
	c, err := api.NewClient(&api.Config{
		Address:    address,
		HttpClient: httpClient,
		MaxRetries: 0, // a retry would double the time a checkout waits
		Timeout:    0,
	})
	if err != nil {
		return nil, fmt.Errorf("vault: transit client: %w", err)
	}
	c.ClearToken()
	c.ClearNamespace()
	h := http.Header{}
	h.Set(api.RequestHeaderName, "true") // Vault's SSRF guard header, which SetHeaders would drop
	c.SetHeaders(h)
	return c, nil
}

// ID returns "transit:" + mount + "/" + key, stored with every data key.
func (t *Transit) ID() string { return t.id }

// GenerateDataKey asks Transit for a fresh 256-bit key: its plaintext and
// its ciphertext ("vault:vN:..."), which is the wrapped form. Errors match
// ErrKEKUnavailable when Vault is sealed, unreachable, slow or refuses.
func (t *Transit) GenerateDataKey(ctx context.Context) (plaintext, wrapped []byte, err error) {
	var out struct {
		Data struct {
			Plaintext  []byte `json:"plaintext"` // base64 in JSON, decoded into a slice we own
			Ciphertext string `json:"ciphertext"`
		} `json:"data"`
	}
	path := t.opts.Mount + "/datakey/plaintext/" + t.opts.Key
	if err := t.call(ctx, "generate data key", http.MethodPut, path, map[string]any{"bits": 256}, &out); err != nil {
		clear(out.Data.Plaintext)
		return nil, nil, err
	}
	if len(out.Data.Plaintext) != dataKeySize || t.KeyVersion([]byte(out.Data.Ciphertext)) == 0 {
		clear(out.Data.Plaintext)
		return nil, nil, fmt.Errorf("vault: transit generate data key: unexpected answer (%d-byte key)", len(out.Data.Plaintext))
	}
	return out.Data.Plaintext, []byte(out.Data.Ciphertext), nil
}

// UnwrapDataKey asks Transit to decrypt a wrapped data key. Errors match
// ErrKEKUnavailable when Vault is sealed, unreachable, slow or refuses; a
// ciphertext Transit cannot decrypt (damaged, another key's, or older than
// min_decryption_version) is an error that does not.
func (t *Transit) UnwrapDataKey(ctx context.Context, wrapped []byte) ([]byte, error) {
	if t.KeyVersion(wrapped) == 0 {
		return nil, errors.New("vault: transit unwrap data key: not a Transit ciphertext")
	}
	var out struct {
		Data struct {
			Plaintext []byte `json:"plaintext"`
		} `json:"data"`
	}
	path := t.opts.Mount + "/decrypt/" + t.opts.Key
	if err := t.call(ctx, "unwrap data key", http.MethodPut, path, map[string]any{"ciphertext": string(wrapped)}, &out); err != nil {
		clear(out.Data.Plaintext)
		return nil, err
	}
	if len(out.Data.Plaintext) != dataKeySize {
		clear(out.Data.Plaintext)
		return nil, fmt.Errorf("vault: transit unwrap data key: unwrapped key is %d bytes, want %d", len(out.Data.Plaintext), dataKeySize)
	}
	return out.Data.Plaintext, nil
}

// Rotate makes a new version of the Transit key, which wraps every data key
// made from now on, and returns its number. It needs TransitAdminPolicy.
// Older versions still unwrap until SetMinDecryptionVersion retires them.
func (t *Transit) Rotate(ctx context.Context) (newVersion int, err error) {
	var out struct {
		Data struct {
			LatestVersion int `json:"latest_version"`
		} `json:"data"`
	}
	if err := t.call(ctx, "rotate", http.MethodPut, t.opts.Mount+"/keys/"+t.opts.Key+"/rotate", map[string]any{}, &out); err != nil {
		return 0, err
	}
	if out.Data.LatestVersion > 0 {
		return out.Data.LatestVersion, nil
	}
	return t.LatestVersion(ctx) // older servers answer 204 with no body
}

// LatestVersion returns the Transit key's newest version. It needs
// TransitAdminPolicy (read on {mount}/keys/{key}).
func (t *Transit) LatestVersion(ctx context.Context) (int, error) {
	var out struct {
		Data struct {
			LatestVersion int `json:"latest_version"`
		} `json:"data"`
	}
	if err := t.call(ctx, "read key", http.MethodGet, t.opts.Mount+"/keys/"+t.opts.Key, nil, &out); err != nil {
		return 0, err
	}
	if out.Data.LatestVersion < 1 {
		return 0, errors.New("vault: transit read key: no latest_version in the answer")
	}
	return out.Data.LatestVersion, nil
}

// SetMinDecryptionVersion makes Transit refuse to decrypt anything wrapped
// under versions older than v (PCI DSS 3.6.1.4: retired keys are no longer
// used). Run it only after Rewrap has moved every data key to v or later.
// It needs TransitAdminPolicy.
func (t *Transit) SetMinDecryptionVersion(ctx context.Context, v int) error {
	if v < 1 {
		return errors.New("vault: transit min_decryption_version must be at least 1")
	}
	return t.call(ctx, "set min_decryption_version", http.MethodPut, t.opts.Mount+"/keys/"+t.opts.Key+"/config",
		map[string]any{"min_decryption_version": v}, nil)
}

// RewrapDataKey re-encrypts a wrapped data key under the Transit key's
// newest version inside Vault: the plaintext key never leaves Vault.
func (t *Transit) RewrapDataKey(ctx context.Context, wrapped []byte) ([]byte, error) {
	if t.KeyVersion(wrapped) == 0 {
		return nil, errors.New("vault: transit rewrap: not a Transit ciphertext")
	}
	var out struct {
		Data struct {
			Ciphertext string `json:"ciphertext"`
		} `json:"data"`
	}
	path := t.opts.Mount + "/rewrap/" + t.opts.Key
	if err := t.call(ctx, "rewrap", http.MethodPut, path, map[string]any{"ciphertext": string(wrapped)}, &out); err != nil {
		return nil, err
	}
	if t.KeyVersion([]byte(out.Data.Ciphertext)) == 0 {
		return nil, errors.New("vault: transit rewrap: unexpected answer")
	}
	return []byte(out.Data.Ciphertext), nil
}

// KeyVersion returns N of a "vault:vN:..." ciphertext, or 0 when wrapped is
// not one.
func (t *Transit) KeyVersion(wrapped []byte) int {
	rest, ok := bytes.CutPrefix(wrapped, []byte("vault:v"))
	if !ok {
		return 0
	}
	digits, _, ok := bytes.Cut(rest, []byte(":"))
	if !ok || len(digits) == 0 || len(digits) > 9 {
		return 0
	}
	n, err := strconv.Atoi(string(digits))
	if err != nil || n < 1 {
		return 0
	}
	return n
}

// Healthy returns nil while the last sys/health probe found Vault
// unsealed and answering, and otherwise an error matching ErrKEKUnavailable:
// "vault: sealed", "vault: unreachable: ...", "vault: slow: ...". A failed
// Transit call also makes it unhealthy until the next good probe.
func (t *Transit) Healthy() error {
	t.hmu.Lock()
	defer t.hmu.Unlock()
	if t.ctx.Err() != nil {
		return errTransitClosed
	}
	if !t.probeStart.IsZero() {
		if d := time.Since(t.probeStart); d > t.slowAfter {
			return &kekError{msg: fmt.Sprintf("vault: slow: sys/health unanswered for %s", d.Round(time.Millisecond))}
		}
	}
	return t.herr
}

// Close stops the health probe and token renewal and, for AppRole, revokes
// the token it logged in with: a token must not outlive its process. Every
// call afterwards fails. Close is idempotent.
func (t *Transit) Close() error {
	t.once.Do(func() {
		// Stop the loops first: a renewal failing on the revoked token
		// would otherwise log in again and leave a live token behind.
		t.cancel()
		t.wg.Wait()
		if t.appRole && t.client.Token() != "" {
			ctx, cancel := context.WithTimeout(context.Background(), t.opts.CallTimeout)
			if err := t.client.Auth().Token().RevokeSelfWithContext(ctx, ""); err != nil {
				t.log.Warn("vault transit: revoke token on close", "err", briefError(err))
			}
			cancel()
		}
		t.client.ClearToken()
	})
	return nil
}

// call makes one Transit call with its own deadline and decodes the
// answer into out (when not nil). The answer's bytes are read into a buffer
// that is wiped after decoding: it may hold a plaintext data key.
func (t *Transit) call(ctx context.Context, op, method, path string, body, out any) error {
	if t.ctx.Err() != nil {
		return fmt.Errorf("vault: transit %s: %w", op, errTransitClosed)
	}
	callCtx, cancel := context.WithTimeout(ctx, t.opts.CallTimeout)
	defer cancel()
	var resp *api.Response
	var err error
	if method == http.MethodGet {
		resp, err = t.client.Logical().ReadRawWithContext(callCtx, path)
	} else {
		var data []byte
		if data, err = json.Marshal(body); err != nil {
			return fmt.Errorf("vault: transit %s: %w", op, err)
		}
		resp, err = t.client.Logical().WriteRawWithContext(callCtx, path, data)
	}
	if resp != nil && resp.Body != nil {
		defer resp.Body.Close()
	}
	if err != nil {
		return t.callFailed(ctx, op, err)
	}
	if out == nil {
		return nil
	}
	buf, err := readAnswer(resp.Body)
	defer clear(buf)
	if err != nil {
		return t.callFailed(ctx, op, err)
	}
	if len(buf) == 0 {
		return nil
	}
	if err := json.Unmarshal(buf, out); err != nil {
		return fmt.Errorf("vault: transit %s: decode answer: %w", op, err) // no %v of buf: it may hold a key
	}
	return nil
}

// readAnswer reads r whole into a buffer it grows itself, wiping each one
// it outgrows (io.ReadAll would leave them to the collector): an answer may
// hold a plaintext data key. Answers are a few hundred bytes, so the first
// buffer is normally the only one.
func readAnswer(r io.Reader) ([]byte, error) {
	buf := make([]byte, 0, 2048)
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= maxTransitResponse {
				clear(buf)
				return nil, fmt.Errorf("answer larger than %d bytes", maxTransitResponse)
			}
			bigger := make([]byte, len(buf), 2*cap(buf))
			copy(bigger, buf)
			clear(buf)
			buf = bigger
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// callFailed classifies a failed call. Availability failures (sealed,
// unreachable, timeout, 5xx, 429, 403) match ErrKEKUnavailable; those of
// Vault itself (all but 403, which is about this token) also mark Transit
// unhealthy at once, ahead of the next probe. The caller's own
// cancellation is neither.
func (t *Transit) callFailed(parent context.Context, op string, err error) error {
	if perr := parent.Err(); perr != nil {
		return fmt.Errorf("vault: transit %s: %w", op, perr)
	}
	var re *api.ResponseError
	if errors.As(err, &re) && re.StatusCode < 500 && re.StatusCode != http.StatusForbidden && re.StatusCode != http.StatusTooManyRequests {
		// Vault answered and refused this request (e.g. a damaged or
		// retired ciphertext): not an availability problem.
		return fmt.Errorf("vault: transit %s: %s", op, briefError(err))
	}
	kerr := t.classify(err)
	if re != nil && re.StatusCode == http.StatusForbidden {
		if t.appRole {
			t.requestRelogin() // the token may have expired or been revoked
		}
	} else {
		t.hmu.Lock()
		t.herr = kerr
		t.hmu.Unlock()
	}
	return fmt.Errorf("vault: transit %s: %w", op, kerr)
}

// classify turns a call's error into a short availability error.
func (t *Transit) classify(err error) *kekError {
	var re *api.ResponseError
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.As(err, &re):
		switch {
		case re.StatusCode == http.StatusServiceUnavailable && strings.Contains(strings.Join(re.Errors, " "), "sealed"):
			return &kekError{msg: "vault: sealed", err: err}
		case re.StatusCode == http.StatusForbidden:
			return &kekError{msg: "vault: permission denied (token expired, revoked, or lacking the Transit policy)", err: err}
		case re.StatusCode == http.StatusTooManyRequests:
			return &kekError{msg: "vault: rate limited", err: err}
		default:
			return &kekError{msg: fmt.Sprintf("vault: unavailable: HTTP %d", re.StatusCode), err: err}
		}
	case errors.As(err, &oe) && oe.Op == "dial":
		return &kekError{msg: "vault: unreachable: " + oe.Error(), err: err}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return &kekError{msg: fmt.Sprintf("vault: slow: no answer within %s", t.opts.CallTimeout), err: err}
	default:
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL says nothing the operator does not know
		}
		return &kekError{msg: "vault: unreachable: " + err.Error(), err: err}
	}
}

// probe asks sys/health once and records the verdict.
func (t *Transit) probe(ctx context.Context) error {
	t.hmu.Lock()
	t.probeStart = time.Now()
	t.hmu.Unlock()

	callCtx, cancel := context.WithTimeout(ctx, t.opts.CallTimeout)
	start := time.Now()
	resp, err := t.client.Sys().HealthWithContext(callCtx)
	took := time.Since(start)
	cancel()

	var verdict error
	switch {
	case err != nil && ctx.Err() != nil:
		verdict = &kekError{msg: "vault: health probe cancelled", err: ctx.Err()}
	case err != nil:
		verdict = t.classify(err)
	case !resp.Initialized:
		verdict = &kekError{msg: "vault: not initialized"}
	case resp.Sealed:
		verdict = &kekError{msg: "vault: sealed"}
	case took > t.slowAfter:
		verdict = &kekError{msg: fmt.Sprintf("vault: slow: sys/health took %s", took.Round(time.Millisecond))}
	}
	t.hmu.Lock()
	t.probeStart = time.Time{}
	t.herr = verdict
	t.hmu.Unlock()
	return verdict
}

func (t *Transit) probeLoop() {
	defer t.wg.Done()
	tick := time.NewTicker(t.opts.HealthInterval)
	defer tick.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
			t.probe(t.ctx)
		}
	}
}

// doLogin logs in with AppRole and installs the token. It returns the
// token's TTL (0: it does not expire).
func (t *Transit) doLogin(ctx context.Context) (time.Duration, error) {
	callCtx, cancel := context.WithTimeout(ctx, t.opts.CallTimeout)
	defer cancel()
	secret, err := t.login.Logical().WriteWithContext(callCtx, "auth/"+t.opts.AppRole.MountPath+"/login", map[string]any{
		"role_id":   t.opts.AppRole.RoleID,
		"secret_id": t.opts.AppRole.SecretID,
	})
	if err != nil {
		var re *api.ResponseError
		if errors.As(err, &re) && re.StatusCode < 500 {
			return 0, fmt.Errorf("vault: transit AppRole login: %s", briefError(err))
		}
		return 0, fmt.Errorf("vault: transit AppRole login: %w", t.classify(err))
	}
	if secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "" {
		return 0, errors.New("vault: transit AppRole login: no token in the answer")
	}
	t.client.SetToken(secret.Auth.ClientToken)
	return time.Duration(secret.Auth.LeaseDuration) * time.Second, nil
}

// renewSelf extends the token by want and returns its new TTL.
func (t *Transit) renewSelf(want time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(t.ctx, t.opts.CallTimeout)
	defer cancel()
	secret, err := t.client.Auth().Token().RenewSelfWithContext(ctx, int(want/time.Second))
	if err != nil {
		return 0, err
	}
	if secret == nil || secret.Auth == nil {
		return 0, errors.New("no auth in the answer")
	}
	return time.Duration(secret.Auth.LeaseDuration) * time.Second, nil
}

// briefError is err in one line: the api client's ResponseError spans
// several, with the URL.
func briefError(err error) string {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return fmt.Sprintf("HTTP %d: %s", re.StatusCode, strings.Join(strings.Fields(strings.Join(re.Errors, "; ")), " "))
	}
	return err.Error()
}

func (t *Transit) requestRelogin() {
	select {
	case t.relogin <- struct{}{}:
	default: // one is pending already
	}
}

// reloginMinGap spaces logins asked for by 403 answers: with a wrong
// policy every call is refused, and each must not cost a login.
const reloginMinGap = 5 * time.Second

// authLoop keeps the AppRole token alive: it renews at two thirds of the
// TTL and logs in again when renewal fails, when the token reaches its
// maximum TTL (Vault grants less than asked), or when a call was refused
// with 403. Failed logins are retried with backoff up to 30s.
func (t *Transit) authLoop(ttl time.Duration) {
	defer t.wg.Done()
	loginTTL := ttl // what a fresh login grants: the increment renewals ask for
	lastLogin := time.Now()
	var next time.Time // when to renew or log in; zero: only when asked
	if ttl > 0 {
		next = time.Now().Add(ttl * 2 / 3)
	}
	backoff, needLogin := time.Duration(0), false
	for {
		var timer <-chan time.Time
		if !next.IsZero() {
			timer = time.After(time.Until(next))
		}
		select {
		case <-t.ctx.Done():
			return
		case <-t.relogin:
			if time.Since(lastLogin) < reloginMinGap {
				continue
			}
			needLogin = true
		case <-timer:
		}
		if !needLogin {
			got, err := t.renewSelf(loginTTL)
			switch {
			case err != nil:
				t.log.Warn("vault transit: token renewal failed; logging in again", "err", briefError(err))
				needLogin = true
			case got < loginTTL:
				// Capped by the token's max TTL: use most of what is left,
				// then log in afresh.
				needLogin, next = true, time.Now().Add(got*2/3)
				continue
			default:
				t.log.Debug("vault transit: token renewed", "ttl", got)
				next = time.Now().Add(got * 2 / 3)
				continue
			}
		}
		got, err := t.doLogin(t.ctx)
		if err != nil {
			if t.ctx.Err() != nil {
				return
			}
			backoff = min(max(2*backoff, time.Second), 30*time.Second)
			t.log.Error("vault transit: AppRole login failed; retrying", "err", err, "retry_in", backoff)
			next = time.Now().Add(backoff)
			continue
		}
		t.log.Debug("vault transit: logged in again with AppRole", "ttl", got)
		loginTTL, lastLogin, backoff, needLogin = got, time.Now(), 0, false
		next = time.Time{}
		if got > 0 {
			next = time.Now().Add(got * 2 / 3)
		}
	}
}
