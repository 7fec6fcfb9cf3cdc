package api

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cloudphone/media-service/internal/lograte"
	"github.com/cloudphone/media-service/media"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Signed access tokens (JWT): besides the static tokens of API_TOKENS, the
// API accepts tokens that a backend signs for one user, with the rights
// in their claims. They are verified with no state (a signature and the
// claims), so that any instance of a fleet accepts them.
//
// A bearer token that parses as a JWT (three base64url parts, the first
// a JSON header) is checked as one, when a key is configured; any other
// is compared with the static tokens. A bad signed token costs at most
// one signature check per configured key of its algorithm (HS256: each
// secret; a key pair: the key its kid names), and no JWKS fetch beyond
// the refresh on an unknown kid, at most one every unknownKIDEvery.

// Kinds of token a Caller authenticated with (Caller.Kind).
const (
	// KindStatic is a token of API_TOKENS (Options.Tokens).
	KindStatic = "static"
	// KindJWT is a signed access token (JWTOptions).
	KindJWT = "jwt"
)

// JWTOptions configures the signed access tokens the API accepts
// (NewVerifier). With no key (no secret, file or URL) none is.
type JWTOptions struct {
	// HS256Secrets verify HS256 tokens (JWT_HS256_SECRETS). Each is
	// tried: during a rotation, tokens signed with the old secret and the
	// new one are both accepted.
	HS256Secrets []string
	// KeysFile holds public keys for RS256 and EdDSA (JWT_KEYS_FILE):
	// PEM ("PUBLIC KEY", "RSA PUBLIC KEY" or "CERTIFICATE" blocks), or a
	// JWK Set (JSON). A JWK Set's keys are found by the token's kid; PEM
	// keys have none, and are tried for tokens whose kid names no JWK.
	KeysFile string
	// JWKSURL serves a JWK Set of public keys (JWT_JWKS_URL), fetched at
	// start, every JWKSRefresh (0: 5 minutes), and when a token names an
	// unknown kid, at most once every 10 s.
	JWKSURL     string
	JWKSRefresh time.Duration
	// Audience, when set, must be among a token's aud (JWT_AUDIENCE);
	// Issuer, when set, must be its iss (JWT_ISSUER).
	Audience, Issuer string
	// Leeway is the clock skew allowed on exp, nbf and iat (JWT_LEEWAY).
	Leeway time.Duration
	// Log receives the JWKS fetch failures; nil: slog.Default().
	Log *slog.Logger
	// Now is the clock; nil: time.Now (tests).
	Now func() time.Time
}

// Enabled reports whether o configures a key: without one, no signed
// token is accepted and bearer tokens are all static.
func (o JWTOptions) Enabled() bool {
	return len(o.HS256Secrets) > 0 || o.KeysFile != "" || o.JWKSURL != ""
}

// same reports whether o and p configure the same verification (their
// clocks and logs aside).
func (o JWTOptions) same(p JWTOptions) bool {
	refresh := func(d time.Duration) time.Duration {
		if d <= 0 {
			return defaultJWKSRefresh
		}
		return d
	}
	return refresh(o.JWKSRefresh) == refresh(p.JWKSRefresh) && slices.Equal(o.HS256Secrets, p.HS256Secrets) && o.KeysFile == p.KeysFile && o.JWKSURL == p.JWKSURL &&
		o.Audience == p.Audience && o.Issuer == p.Issuer && o.Leeway == p.Leeway
}

const (
	// defaultJWKSRefresh is JWTOptions.JWKSRefresh when unset.
	defaultJWKSRefresh = 5 * time.Minute
	// unknownKIDEvery is the least time between two JWKS fetches for
	// tokens that name an unknown kid.
	unknownKIDEvery = 10 * time.Second
	// jwksTimeout bounds one JWKS fetch, jwksMaxBytes its body.
	jwksTimeout  = 10 * time.Second
	jwksMaxBytes = 1 << 20
	// maxJWTBytes bounds a signed token.
	maxJWTBytes = 8 << 10
	// minRSABits is the smallest RSA key accepted in a keys file.
	minRSABits = 2048
)

// Verifier checks signed access tokens. Create one with NewVerifier and
// give it to the server (Options.JWT, Live.JWT); Close it once no server
// uses it: it stops its JWKS refreshes.
type Verifier struct {
	opts    JWTOptions
	parser  *jwt.Parser
	algs    []string
	secrets []jwt.VerificationKey // HS256, as []byte

	// The keys file: a JWK Set's keys by kid (fileKeys), or PEM keys
	// (pemKeys); fileSum is the file's SHA-256, for Current.
	fileKeys keyfunc.Keyfunc
	pemKeys  []any
	fileSum  [sha256.Size]byte

	// The JWKS URL: cached looks a kid up in the last set fetched;
	// refreshing fetches the set again first, which kidGate allows once
	// every unknownKIDEvery.
	cached, refreshing keyfunc.Keyfunc
	kidGate            *rate.Limiter
	transport          *http.Transport
	cancel             context.CancelFunc
	fetchLog           lograte.Limiter
	closeOnce          sync.Once
}

// NewVerifier loads o's keys: the secrets, the keys file, and the JWKS at
// JWKSURL, fetched once before it returns (a JWKS that cannot be fetched
// is logged, and fetched again on the next refresh). It returns nil for
// options with no key. ctx bounds the JWKS refreshes, as Close does.
func NewVerifier(ctx context.Context, o JWTOptions) (*Verifier, error) {
	if !o.Enabled() {
		return nil, nil
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.JWKSRefresh <= 0 {
		o.JWKSRefresh = defaultJWKSRefresh
	}
	v := &Verifier{opts: o, kidGate: rate.NewLimiter(rate.Every(unknownKIDEvery), 1)}
	for i, s := range o.HS256Secrets {
		if len(s) < 32 {
			return nil, fmt.Errorf("JWT_HS256_SECRETS: secret %d has %d bytes; HS256 wants at least 32", i+1, len(s))
		}
		v.secrets = append(v.secrets, []byte(s))
	}
	if len(v.secrets) > 0 {
		v.algs = append(v.algs, jwt.SigningMethodHS256.Alg())
	}
	if o.KeysFile != "" {
		if err := v.loadKeysFile(o.KeysFile); err != nil {
			return nil, err
		}
	}
	if o.KeysFile != "" || o.JWKSURL != "" {
		v.algs = append(v.algs, jwt.SigningMethodRS256.Alg(), jwt.SigningMethodEdDSA.Alg())
	}
	if o.JWKSURL != "" {
		if err := v.startJWKS(ctx, o.JWKSURL); err != nil {
			return nil, err
		}
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(v.algs), jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(o.Leeway)}
	if o.Audience != "" {
		opts = append(opts, jwt.WithAudience(o.Audience))
	}
	if o.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(o.Issuer))
	}
	if o.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(o.Now))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// Algorithms are the algorithms v accepts.
func (v *Verifier) Algorithms() []string {
	if v == nil {
		return nil
	}
	return slices.Clone(v.algs)
}

// Close stops v's JWKS refreshes. It is idempotent; a nil Verifier does
// nothing.
func (v *Verifier) Close() {
	if v == nil {
		return
	}
	v.closeOnce.Do(func() {
		if v.cancel != nil {
			v.cancel() // and the transport's idle connections close
		}
	})
}

// Current reports whether v verifies as a verifier made from o would:
// the same settings, and a keys file that still holds what v read. A
// reload makes a new Verifier when it does not. Nil is current for
// options with no key.
func (v *Verifier) Current(o JWTOptions) bool {
	if v == nil {
		return !o.Enabled()
	}
	if !v.opts.same(o) {
		return false
	}
	if o.KeysFile == "" {
		return true
	}
	data, err := os.ReadFile(o.KeysFile)
	return err == nil && sha256.Sum256(data) == v.fileSum
}

// loadKeysFile reads JWT_KEYS_FILE: a JWK Set, or PEM public keys.
func (v *Verifier) loadKeysFile(name string) error {
	data, err := os.ReadFile(name)
	if err != nil {
		return fmt.Errorf("JWT_KEYS_FILE: %w", err)
	}
	v.fileSum = sha256.Sum256(data)
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
		kf, err := keyfunc.NewJWKSetJSON(trimmed)
		if err != nil {
			return fmt.Errorf("JWT_KEYS_FILE %s: not a valid JWK Set: %w", name, err)
		}
		keys, err := kf.Storage().KeyReadAll(context.Background())
		if err != nil || len(keys) == 0 {
			return fmt.Errorf("JWT_KEYS_FILE %s: the JWK Set holds no key", name)
		}
		for _, k := range keys {
			if k.Marshal().KID == "" {
				return fmt.Errorf("JWT_KEYS_FILE %s: a key of the JWK Set has no kid (tokens name their key by kid)", name)
			}
			if err := usableKey(k.Key()); err != nil {
				return fmt.Errorf("JWT_KEYS_FILE %s: key %q: %w", name, k.Marshal().KID, err)
			}
		}
		v.fileKeys, err = keyfunc.New(keyfunc.Options{Storage: kf.Storage(), UseWhitelist: signatureUses})
		return err
	}
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		var key any
		switch b.Type {
		case "PUBLIC KEY":
			key, err = x509.ParsePKIXPublicKey(b.Bytes)
		case "RSA PUBLIC KEY":
			key, err = x509.ParsePKCS1PublicKey(b.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(b.Bytes); err == nil {
				key = cert.PublicKey
			}
		default:
			if strings.Contains(b.Type, "PRIVATE") {
				return fmt.Errorf("JWT_KEYS_FILE %s holds a private key (%s): give the public keys only", name, b.Type)
			}
			return fmt.Errorf("JWT_KEYS_FILE %s: PEM block %q (want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)", name, b.Type)
		}
		if err != nil {
			return fmt.Errorf("JWT_KEYS_FILE %s: %s: %w", name, b.Type, err)
		}
		if err := usableKey(key); err != nil {
			return fmt.Errorf("JWT_KEYS_FILE %s: key %d: %w", name, len(v.pemKeys)+1, err)
		}
		v.pemKeys = append(v.pemKeys, key)
	}
	if len(v.pemKeys) == 0 {
		return fmt.Errorf("JWT_KEYS_FILE %s holds neither PEM public keys nor a JWK Set", name)
	}
	return nil
}

// signatureUses are the JWK "use" values of keys that verify tokens.
var signatureUses = []jwkset.USE{jwkset.UseSig, ""}

// usableKey refuses keys that no accepted algorithm verifies with.
func usableKey(key any) error {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return fmt.Errorf("RSA key of %d bits (want at least %d)", k.N.BitLen(), minRSABits)
		}
	case *rsa.PrivateKey, ed25519.PublicKey, ed25519.PrivateKey:
	default:
		return fmt.Errorf("key of type %T (want RSA for RS256 or Ed25519 for EdDSA)", key)
	}
	return nil
}

// startJWKS fetches the JWK Set at u and keeps it fresh until ctx ends or
// Close.
func (v *Verifier) startJWKS(ctx context.Context, u string) error {
	ctx, v.cancel = context.WithCancel(ctx)
	v.transport = http.DefaultTransport.(*http.Transport).Clone()
	context.AfterFunc(ctx, v.transport.CloseIdleConnections)
	client := &http.Client{Timeout: jwksTimeout, Transport: limitedBodies{v.transport}}
	store, err := jwkset.NewStorageFromHTTP(u, jwkset.HTTPClientStorageOptions{
		Client: client, Ctx: ctx, HTTPTimeout: jwksTimeout, NoErrorReturnFirstHTTPReq: true,
		RefreshInterval: v.opts.JWKSRefresh,
		RefreshErrorHandler: func(_ context.Context, err error) {
			if ctx.Err() == nil {
				v.fetchLog.Log(v.opts.Log, slog.LevelWarn, "api: JWKS fetch failed; signed tokens verify with the keys fetched before", "url", u, "err", err)
			}
		},
	})
	if err == nil {
		v.cached, err = keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: store, UseWhitelist: signatureUses})
	}
	if err == nil {
		// The fetch on an unknown kid: kidGate rate-limits it, without
		// waiting (jwkset's own limiter would make the request wait for
		// its turn, up to RateLimitWaitMax), so this one lets every
		// fetch kidGate allowed through at once.
		var both jwkset.Storage
		both, err = jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
			HTTPURLs:          map[string]jwkset.Storage{u: store},
			RefreshUnknownKID: rate.NewLimiter(rate.Inf, 1),
		})
		if err == nil {
			v.refreshing, err = keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: both, UseWhitelist: signatureUses})
		}
	}
	if err != nil {
		v.Close()
		return fmt.Errorf("JWT_JWKS_URL: %w", err)
	}
	return nil
}

// limitedBodies bounds the bodies of JWKS answers to jwksMaxBytes.
type limitedBodies struct{ base http.RoundTripper }

func (l limitedBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(r)
	if err == nil {
		resp.Body = &limitedBody{r: io.LimitReader(resp.Body, jwksMaxBytes+1), c: resp.Body}
	}
	return resp, err
}

type limitedBody struct {
	r io.Reader
	c io.Closer
	n int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if b.n += int64(n); b.n > jwksMaxBytes {
		return n, fmt.Errorf("the JWK Set is larger than %d bytes", jwksMaxBytes)
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.c.Close() }

// signedClaims are the claims of a signed access token.
type signedClaims struct {
	jwt.RegisteredClaims
	// Devices are the device IDs, or path.Match patterns, the token may
	// open; none: no device.
	Devices []string `json:"devices,omitempty"`
	// Control grants input and control; without it, view only.
	Control bool `json:"control,omitempty"`
	// MaxSessions bounds the subject's sessions on one instance; 0: no
	// bound but the service's.
	MaxSessions int `json:"max_sessions,omitempty"`
	// MaxSessionSeconds lowers the longest a session may last.
	MaxSessionSeconds int64 `json:"max_session_seconds,omitempty"`
}

// Validate checks the claims beyond the registered ones (the parser
// calls it after the signature and the times).
func (c *signedClaims) Validate() error {
	if c.Subject == "" {
		return errors.New("sub (the user) is missing")
	}
	if err := media.CheckUserID(c.Subject); err != nil {
		return fmt.Errorf("sub: %w", err)
	}
	if len(c.Devices) > 1000 {
		return fmt.Errorf("devices lists %d entries (at most 1000)", len(c.Devices))
	}
	for _, d := range c.Devices {
		if _, err := path.Match(d, ""); err != nil || d == "" || len(d) > 256 {
			return fmt.Errorf("devices: %s is not a device ID or pattern", strconv.QuoteToASCII(clip(d, 64)))
		}
	}
	if c.MaxSessions < 0 || c.MaxSessions > 1_000_000 {
		return fmt.Errorf("max_sessions %d (want 0..1000000)", c.MaxSessions)
	}
	if c.MaxSessionSeconds < 0 || c.MaxSessionSeconds > 1<<31 {
		return fmt.Errorf("max_session_seconds %d (want 0..%d)", c.MaxSessionSeconds, int64(1)<<31)
	}
	return nil
}

// clip shortens s to at most n bytes, for messages.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// jwtHeader is what isJWT reads of a token's header.
type jwtHeader struct {
	Alg string `json:"alg"`
}

// isJWT reports whether a bearer token is shaped as a JWT: three
// base64url parts, the first a JSON object. It returns the header's alg.
func isJWT(raw string) (alg string, ok bool) {
	if strings.Count(raw, ".") != 2 {
		return "", false
	}
	head, _, _ := strings.Cut(raw, ".")
	if head == "" || len(head) > maxJWTBytes {
		return "", false
	}
	data, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil || len(data) == 0 || data[0] != '{' {
		return "", false
	}
	var h jwtHeader
	if json.Unmarshal(data, &h) != nil {
		return "", false
	}
	return h.Alg, true
}

// verify checks a signed token and returns its claims, or an error whose
// text is the one line the 401 says.
func (v *Verifier) verify(ctx context.Context, raw string) (*signedClaims, error) {
	alg, ok := isJWT(raw)
	if !ok {
		return nil, errors.New("signed token: not a JWT")
	}
	if len(raw) > maxJWTBytes {
		return nil, fmt.Errorf("signed token: longer than %d bytes", maxJWTBytes)
	}
	if !slices.Contains(v.algs, alg) {
		return nil, fmt.Errorf("signed token: algorithm %s is not accepted (accepted: %s)", strconv.QuoteToASCII(clip(alg, 16)), strings.Join(v.algs, ", "))
	}
	claims := &signedClaims{}
	_, err := v.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) { return v.key(ctx, t) })
	if err != nil {
		return nil, errors.New("signed token: " + reason(err))
	}
	return claims, nil
}

// reason is the one line that says why a token was refused.
func reason(err error) string {
	var unknown unknownKID
	var badType *json.UnmarshalTypeError
	switch {
	case errors.As(err, &unknown):
		return fmt.Sprintf("its kid %s names no known key", strconv.QuoteToASCII(clip(string(unknown), 64)))
	case errors.As(err, &badType):
		return fmt.Sprintf("malformed (claim %s is a JSON %s; want %s)", strconv.QuoteToASCII(clip(badType.Field, 64)), badType.Value, jsonKind(badType.Type))
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed (" + strings.TrimPrefix(err.Error(), jwt.ErrTokenMalformed.Error()+": ") + ")"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad signature"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "cannot be verified (" + strings.TrimPrefix(err.Error(), jwt.ErrTokenUnverifiable.Error()+": error while executing keyfunc: ") + ")"
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		var out []string
		for _, e := range leaves(err) {
			out = append(out, claimReason(e))
		}
		return strings.Join(out, "; ")
	}
	return err.Error()
}

// jsonKind names what a claim of Go type t is in JSON.
func jsonKind(t reflect.Type) string {
	switch {
	case t == nil:
		return "another type"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return "a list of strings"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Float64:
		return "an integer"
	}
	return "another type"
}

// leaves are the errors that err joins, ErrTokenInvalidClaims aside.
func leaves(err error) []error {
	m, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range m.Unwrap() {
		if e != jwt.ErrTokenInvalidClaims {
			out = append(out, leaves(e)...)
		}
	}
	return out
}

// claimReason says what is wrong with a claim.
func claimReason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired (exp)"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "not valid yet (nbf)"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "issued in the future (iat)"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "aud does not name this service (JWT_AUDIENCE)"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "iss is not the accepted issuer (JWT_ISSUER)"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		claim := strings.TrimPrefix(err.Error(), jwt.ErrTokenRequiredClaimMissing.Error()+": ")
		return strings.TrimSuffix(claim, " claim is required") + " is missing (required)"
	}
	return err.Error()
}

// unknownKID is the kid of a token that names no known key.
type unknownKID string

func (k unknownKID) Error() string { return "unknown kid " + strconv.QuoteToASCII(clip(string(k), 64)) }

// key returns the key, or keys, that may have signed t.
func (v *Verifier) key(ctx context.Context, t *jwt.Token) (any, error) {
	if t.Method.Alg() == jwt.SigningMethodHS256.Alg() {
		return jwt.VerificationKeySet{Keys: v.secrets}, nil
	}
	if _, has := t.Header["kid"]; !has {
		return v.pemSet(t)
	}
	kid, ok := t.Header["kid"].(string)
	if !ok {
		return nil, errors.New("kid is not a string")
	}
	if v.fileKeys != nil {
		if k, err := v.fileKeys.KeyfuncCtx(ctx)(t); !errors.Is(err, jwkset.ErrKeyNotFound) {
			return jwkKey(k, err)
		}
	}
	if v.cached != nil {
		if k, err := v.cached.KeyfuncCtx(ctx)(t); !errors.Is(err, jwkset.ErrKeyNotFound) {
			return jwkKey(k, err)
		}
		// Not in the set fetched last: fetch it again, unless that was
		// done less than unknownKIDEvery ago.
		if v.kidGate.Allow() {
			if k, err := v.refreshing.KeyfuncCtx(ctx)(t); !errors.Is(err, jwkset.ErrKeyNotFound) {
				return jwkKey(k, err)
			}
		}
	}
	if len(v.pemKeys) > 0 {
		return v.pemSet(t)
	}
	return nil, unknownKID(kid)
}

// jwkKey refuses a JWK Set's key that no accepted algorithm verifies
// with (a symmetric key, a short RSA key).
func jwkKey(k any, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	if err := usableKey(k); err != nil {
		return nil, err
	}
	return k, nil
}

// pemSet returns the keys file's PEM keys of t's algorithm.
func (v *Verifier) pemSet(t *jwt.Token) (any, error) {
	var set jwt.VerificationKeySet
	for _, k := range v.pemKeys {
		switch k.(type) {
		case *rsa.PublicKey:
			if t.Method.Alg() == jwt.SigningMethodRS256.Alg() {
				set.Keys = append(set.Keys, k)
			}
		case ed25519.PublicKey:
			if t.Method.Alg() == jwt.SigningMethodEdDSA.Alg() {
				set.Keys = append(set.Keys, k)
			}
		}
	}
	if len(set.Keys) == 0 {
		if len(v.pemKeys) == 0 {
			return nil, errors.New("the token names no key (kid), and no PEM key is configured")
		}
		return nil, fmt.Errorf("no %s key is configured", t.Method.Alg())
	}
	return set, nil
}

// signedCaller is the caller of a verified signed token.
func signedCaller(who Caller, c *signedClaims) Caller {
	who.Kind = KindJWT
	who.Subject = c.Subject
	who.Token = KindJWT + ":" + c.Subject
	who.ViewOnly = !c.Control
	who.Devices = slices.Clone(c.Devices)
	if c.ExpiresAt != nil {
		who.Expires = c.ExpiresAt.Time
	}
	who.MaxSessions = c.MaxSessions
	who.MaxSessionDuration = time.Duration(c.MaxSessionSeconds) * time.Second
	return who
}
