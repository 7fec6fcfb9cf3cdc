// Package webhook sends the service's lifecycle events (events.go) to
// HTTP endpoints, signed as the Standard Webhooks specification says.
//
// Each event is one JSON body, {"type", "timestamp", "data"}, POSTed to
// every endpoint whose filter takes its type, with three headers:
//
//   - webhook-id: the event's ID ("msg_" and 26 characters of base32),
//     the same on every attempt and for every endpoint: receivers dedupe
//     on it;
//   - webhook-timestamp: the attempt's time in Unix seconds, new on every
//     attempt (receivers refuse old ones: replays);
//   - webhook-signature: "v1," and the base64 of HMAC-SHA256 over
//     "ID.TIMESTAMP.BODY", keyed with the endpoint's secret ("whsec_" and
//     the base64 of the key).
//
// Delivery is at least once, in order per endpoint: each endpoint has a
// bounded queue (Options.QueueSize) and one sender goroutine that posts
// its events one at a time. A 2xx answer delivers; anything else (an
// error, a timeout, a 3xx: redirects are not followed) is retried after
// an exponential back-off with jitter (Options.MinBackoff doubling up to
// MaxBackoff, or the answer's Retry-After when longer), until MaxAge has
// passed since the event (or MaxAttempts), when it is given up. While an
// event is retried the ones behind it wait; a full queue drops its oldest
// event (counted, and logged at most once a minute). A 410 Gone answer
// disables the endpoint until its URL or secret changes.
//
// Emit never blocks: it marshals the data once and appends it to the
// queues. Close gives the queued events Options.CloseTimeout to go out,
// one attempt each, then abandons the rest.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	randv2 "math/rand/v2"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudphone/media-service/internal/lograte"
)

// Defaults of Options and Endpoint.
const (
	DefaultQueueSize    = 1024
	DefaultMinBackoff   = time.Second
	DefaultMaxBackoff   = 5 * time.Minute
	DefaultMaxAge       = 24 * time.Hour
	DefaultCloseTimeout = 2 * time.Second
	DefaultTimeout      = 15 * time.Second
)

// Delivery results (Metrics.Delivery).
const (
	// ResultDelivered: an event was answered with a 2xx.
	ResultDelivered = "delivered"
	// ResultRetried: an attempt failed; the event will be tried again.
	ResultRetried = "retried"
	// ResultFailed: an event was given up: MaxAge or MaxAttempts passed,
	// or the endpoint answered 410 Gone.
	ResultFailed = "failed"
)

// SecretPrefix starts every secret.
const SecretPrefix = "whsec_"

// MinSecretBytes is the shortest key a secret may hold (the
// specification recommends at least 24).
const MinSecretBytes = 16

// Endpoint is one receiver of events.
type Endpoint struct {
	// Name identifies the endpoint in logs and metrics: 1-64 of A-Z a-z
	// 0-9 . _ -.
	Name string
	// URL is where the events are POSTed: http or https.
	URL string
	// Secret is "whsec_" followed by the base64 of the signing key.
	Secret string
	// Events are the types sent, as path.Match patterns ("session.*");
	// none: every type.
	Events []string
	// Timeout bounds one attempt; 0: DefaultTimeout.
	Timeout time.Duration
}

// Metrics receives the delivery counters. Its methods must not block.
type Metrics interface {
	// Endpoint declares an endpoint, so that its series exist at zero.
	Endpoint(name string)
	// Queued is the number of the endpoint's events waiting (the one
	// being sent not counted).
	Queued(name string, n int)
	// Dropped counts events abandoned without delivery: the oldest of a
	// full queue, those left when the dispatcher closed or the endpoint
	// was removed, and those of an endpoint disabled by 410 Gone.
	Dropped(name string, n int)
	// Delivery counts one outcome (ResultDelivered, ResultRetried,
	// ResultFailed).
	Delivery(name, result string)
}

// Options configure a Dispatcher; zero fields take the defaults.
type Options struct {
	// QueueSize bounds each endpoint's queue. Default 1024.
	QueueSize int
	// MinBackoff and MaxBackoff bound the delay between two attempts of
	// an event: MinBackoff, doubling up to MaxBackoff, each delay drawn
	// between its half and itself. Defaults 1 s and 5 min.
	MinBackoff, MaxBackoff time.Duration
	// MaxAge gives an event up once this long has passed since it was
	// emitted. Default 24 h.
	MaxAge time.Duration
	// MaxAttempts, above 0, gives an event up after this many attempts.
	MaxAttempts int
	// CloseTimeout bounds Close, and the delivery of a removed endpoint's
	// queue. Default 2 s.
	CloseTimeout time.Duration
	// Transport sends the requests; nil: a clone of
	// http.DefaultTransport.
	Transport http.RoundTripper
	// UserAgent of the requests. Default "media-service-webhooks".
	UserAgent string
	// Log receives the package's logs; default slog.Default().
	Log *slog.Logger
	// Metrics receives the counters; nil: none.
	Metrics Metrics
}

func (o Options) withDefaults() Options {
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(DefaultMaxBackoff, o.MinBackoff)
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = DefaultCloseTimeout
	}
	if o.Transport == nil {
		o.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if o.UserAgent == "" {
		o.UserAgent = "media-service-webhooks"
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = noMetrics{}
	}
	return o
}

type noMetrics struct{}

func (noMetrics) Endpoint(string)         {}
func (noMetrics) Queued(string, int)      {}
func (noMetrics) Dropped(string, int)     {}
func (noMetrics) Delivery(string, string) {}

// ErrInvalid wraps every configuration error.
var ErrInvalid = errors.New("webhook: invalid")

var namePattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ParseSecret returns the key of a secret: "whsec_" and the base64
// (standard alphabet, padded or not) of at least MinSecretBytes bytes.
func ParseSecret(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: a webhook secret starts with %s", ErrInvalid, SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(rest)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: a webhook secret is %s followed by base64; this one does not decode", ErrInvalid, SecretPrefix)
	}
	if len(key) < MinSecretBytes {
		return nil, fmt.Errorf("%w: a webhook secret's key is %d bytes, want at least %d", ErrInvalid, len(key), MinSecretBytes)
	}
	return key, nil
}

// CheckURL checks an endpoint's URL: absolute, http or https.
func CheckURL(u string) error {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return fmt.Errorf("%w: webhook URL %q (want an http:// or https:// URL)", ErrInvalid, redactURL(u))
	}
	return nil
}

// CheckPattern checks an event filter: a path.Match pattern that matches
// at least one event type (Types), so that a misspelt one is refused.
func CheckPattern(p string) error {
	if _, err := path.Match(p, ""); err != nil || p == "" {
		return fmt.Errorf("%w: webhook event filter %q is not a valid pattern", ErrInvalid, p)
	}
	if !slices.ContainsFunc(Types, func(t string) bool { ok, _ := path.Match(p, t); return ok }) {
		return fmt.Errorf("%w: webhook event filter %q matches no event type (%s)", ErrInvalid, p, strings.Join(Types, ", "))
	}
	return nil
}

// Check validates an endpoint.
func (e Endpoint) Check() error {
	if !namePattern.MatchString(e.Name) {
		return fmt.Errorf("%w: webhook endpoint name %q (want 1-64 of A-Z a-z 0-9 . _ -)", ErrInvalid, e.Name)
	}
	if err := CheckURL(e.URL); err != nil {
		return fmt.Errorf("endpoint %s: %w", e.Name, err)
	}
	if _, err := ParseSecret(e.Secret); err != nil {
		return fmt.Errorf("endpoint %s: %w", e.Name, err)
	}
	for _, p := range e.Events {
		if err := CheckPattern(p); err != nil {
			return fmt.Errorf("endpoint %s: %w", e.Name, err)
		}
	}
	if e.Timeout < 0 {
		return fmt.Errorf("%w: endpoint %s: negative timeout", ErrInvalid, e.Name)
	}
	return nil
}

// redactURL is a URL as it may be logged: without user information or
// query.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Scheme + "://" + p.Host + p.Path
}

// Sign returns the webhook-signature of a message: "v1," and the base64
// of HMAC-SHA256(key, id + "." + timestamp + "." + body).
func Sign(key []byte, id, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// payload is the body of every event.
type payload struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// event is one emitted event, its body fixed.
type event struct {
	id   string
	body []byte
	at   time.Time
}

// target is an endpoint's settings, replaced whole by SetEndpoints.
type target struct {
	url     string
	key     []byte
	events  []string
	timeout time.Duration
}

func (t *target) wants(typ string) bool {
	if len(t.events) == 0 {
		return true
	}
	for _, p := range t.events {
		if ok, _ := path.Match(p, typ); ok {
			return true
		}
	}
	return false
}

// Dispatcher sends events to the endpoints. Its methods are safe for
// concurrent use.
type Dispatcher struct {
	o      Options
	client *http.Client

	mu     sync.RWMutex
	eps    map[string]*endpoint
	closed bool
	wg     sync.WaitGroup // the senders, removed endpoints' included
}

// New returns a dispatcher with no endpoint (SetEndpoints adds them).
func New(o Options) *Dispatcher {
	o = o.withDefaults()
	return &Dispatcher{o: o, eps: map[string]*endpoint{}, client: &http.Client{
		Transport: o.Transport,
		// Redirects are failures: the URL should be updated instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// SetEndpoints makes list the endpoints: new names start a sender, known
// ones take their new settings at their next attempt (their queue kept:
// a new secret signs the events still queued), and those no longer listed
// get Options.CloseTimeout to send what they hold, in the background. An
// invalid list changes nothing.
func (d *Dispatcher) SetEndpoints(list []Endpoint) error {
	targets := make(map[string]*target, len(list))
	for _, e := range list {
		if err := e.Check(); err != nil {
			return err
		}
		if targets[e.Name] != nil {
			return fmt.Errorf("%w: two webhook endpoints are named %q", ErrInvalid, e.Name)
		}
		key, _ := ParseSecret(e.Secret)
		t := &target{url: e.URL, key: key, events: slices.Clone(e.Events), timeout: e.Timeout}
		if t.timeout == 0 {
			t.timeout = DefaultTimeout
		}
		targets[e.Name] = t
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	for name, t := range targets {
		if e := d.eps[name]; e != nil {
			old := e.target.Swap(t)
			if old.url != t.url || !hmac.Equal(old.key, t.key) {
				e.enable()
			}
			continue
		}
		e := d.newEndpoint(name, t)
		d.eps[name] = e
		d.o.Log.Info("webhooks: endpoint added", "endpoint", name, "url", redactURL(t.url), "events", filterText(t.events))
	}
	for name, e := range d.eps {
		if targets[name] == nil {
			delete(d.eps, name)
			d.o.Log.Info("webhooks: endpoint removed", "endpoint", name, "queued", e.queued())
			e.shutdown(d.o.CloseTimeout)
		}
	}
	return nil
}

func filterText(events []string) string {
	if len(events) == 0 {
		return "*"
	}
	return strings.Join(events, ",")
}

// Endpoints returns the names of the endpoints, sorted.
func (d *Dispatcher) Endpoints() []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	names := make([]string, 0, len(d.eps))
	for n := range d.eps {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Emit queues an event of type typ for every endpoint that takes it, and
// returns its ID ("" when none does, or the dispatcher is closed). It
// never blocks: a full queue drops its oldest event. data is marshalled
// now, as JSON. The payload's timestamp is now.
func (d *Dispatcher) Emit(typ string, data any) string { return d.EmitAt(typ, time.Now(), data) }

// EmitAt is Emit for an event that happened at a given time (the
// payload's timestamp).
func (d *Dispatcher) EmitAt(typ string, at time.Time, data any) string {
	now := time.Now()
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed || len(d.eps) == 0 {
		return ""
	}
	var ev *event
	for _, e := range d.eps {
		if !e.target.Load().wants(typ) {
			continue
		}
		if ev == nil {
			body, err := json.Marshal(payload{Type: typ, Timestamp: at.UTC(), Data: data})
			if err != nil {
				d.o.Log.Error("webhooks: an event does not marshal", "type", typ, "err", err)
				return ""
			}
			ev = &event{id: "msg_" + rand.Text(), body: body, at: now}
		}
		e.push(ev)
	}
	if ev == nil {
		return ""
	}
	return ev.id
}

// Close stops the dispatcher: Emit does nothing from then on, and the
// events queued get Options.CloseTimeout to go out (one attempt each);
// then the attempts under way are cancelled and what is left is dropped.
// It returns once every sender has stopped. It is idempotent.
func (d *Dispatcher) Close() {
	d.mu.Lock()
	eps := make([]*endpoint, 0, len(d.eps))
	if !d.closed {
		d.closed = true
		for _, e := range d.eps {
			eps = append(eps, e)
		}
		d.eps = map[string]*endpoint{}
	}
	d.mu.Unlock()
	for _, e := range eps {
		e.shutdown(d.o.CloseTimeout)
	}
	d.wg.Wait()
	if t, ok := d.o.Transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

// endpoint is one endpoint's queue and sender.
type endpoint struct {
	d      *Dispatcher
	name   string
	target atomic.Pointer[target]

	mu    sync.Mutex
	ring  []*event // the queue: n events from head
	head  int
	n     int
	gone  bool        // answered 410 Gone: disabled until its URL or secret changes
	timer *time.Timer // shutdown's deadline

	wake     chan struct{}
	stop     chan struct{} // closed: send what is queued, then stop
	stopOnce sync.Once
	ctx      context.Context // cancelled at the shutdown's deadline
	cancel   context.CancelFunc

	dropLog, failLog lograte.Limiter
}

func (d *Dispatcher) newEndpoint(name string, t *target) *endpoint {
	e := &endpoint{d: d, name: name, ring: make([]*event, d.o.QueueSize),
		wake: make(chan struct{}, 1), stop: make(chan struct{}),
		dropLog: lograte.Limiter{Interval: time.Minute}, failLog: lograte.Limiter{Interval: time.Minute}}
	e.target.Store(t)
	e.ctx, e.cancel = context.WithCancel(context.Background())
	d.o.Metrics.Endpoint(name)
	d.wg.Add(1)
	go e.run()
	return e
}

// push appends ev to the queue, dropping the oldest event when it is
// full; it never blocks.
func (e *endpoint) push(ev *event) {
	e.mu.Lock()
	if e.gone {
		e.mu.Unlock()
		e.dropped(1, "the endpoint answered 410 Gone and is disabled until its URL or secret changes")
		return
	}
	dropped := 0
	if e.n == len(e.ring) {
		e.ring[e.head] = nil
		e.head = (e.head + 1) % len(e.ring)
		e.n--
		dropped = 1
	}
	e.ring[(e.head+e.n)%len(e.ring)] = ev
	e.n++
	n := e.n
	e.mu.Unlock()
	e.d.o.Metrics.Queued(e.name, n)
	if dropped > 0 {
		e.dropped(dropped, "the queue is full: its oldest event was dropped")
	}
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// pop takes the oldest event, or nil.
func (e *endpoint) pop() *event {
	e.mu.Lock()
	if e.n == 0 {
		e.mu.Unlock()
		return nil
	}
	ev := e.ring[e.head]
	e.ring[e.head] = nil
	e.head = (e.head + 1) % len(e.ring)
	e.n--
	n := e.n
	e.mu.Unlock()
	e.d.o.Metrics.Queued(e.name, n)
	return ev
}

func (e *endpoint) queued() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n
}

// clear empties the queue and returns how many events it held.
func (e *endpoint) clear() int {
	e.mu.Lock()
	n := e.n
	clear(e.ring)
	e.head, e.n = 0, 0
	e.mu.Unlock()
	e.d.o.Metrics.Queued(e.name, 0)
	return n
}

func (e *endpoint) dropped(n int, why string) {
	if n <= 0 {
		return
	}
	e.d.o.Metrics.Dropped(e.name, n)
	e.dropLog.Log(e.d.o.Log, slog.LevelWarn, "webhooks: events dropped: "+why, "endpoint", e.name, "events", n)
}

// disable stops sending to an endpoint that answered 410 Gone.
func (e *endpoint) disable() {
	e.mu.Lock()
	e.gone = true
	e.mu.Unlock()
	n := e.clear()
	e.d.o.Log.Error("webhooks: the endpoint answered 410 Gone: disabled until its URL or secret changes", "endpoint", e.name, "dropped", n)
	e.d.o.Metrics.Dropped(e.name, n)
}

// enable lets a disabled endpoint send again.
func (e *endpoint) enable() {
	e.mu.Lock()
	e.gone = false
	e.mu.Unlock()
}

// shutdown makes the sender send what is queued and stop, cancelling
// what is under way after bound.
func (e *endpoint) shutdown(bound time.Duration) {
	e.stopOnce.Do(func() {
		e.mu.Lock()
		e.timer = time.AfterFunc(bound, e.cancel)
		e.mu.Unlock()
		close(e.stop)
	})
}

func (e *endpoint) stopping() bool {
	select {
	case <-e.stop:
		return true
	default:
		return false
	}
}

// run sends the queue's events, one at a time, until shutdown.
func (e *endpoint) run() {
	defer e.d.wg.Done()
	defer func() {
		e.mu.Lock()
		if e.timer != nil {
			e.timer.Stop()
		}
		e.mu.Unlock()
		e.cancel()
		e.dropped(e.clear(), "the service stopped (or the endpoint was removed) before they were delivered")
	}()
	for {
		ev := e.next()
		if ev == nil {
			return
		}
		e.deliver(ev)
	}
}

// next waits for the next event; nil once the endpoint stops.
func (e *endpoint) next() *event {
	for e.ctx.Err() == nil {
		if ev := e.pop(); ev != nil {
			return ev
		}
		if e.stopping() {
			return nil
		}
		select {
		case <-e.wake:
		case <-e.stop:
		case <-e.ctx.Done():
		}
	}
	return nil
}

// deliver sends ev until it is delivered or given up. Once the endpoint
// stops, an event gets one more attempt and no retry.
func (e *endpoint) deliver(ev *event) {
	o := e.d.o
	delay := o.MinBackoff
	for attempt := 1; ; attempt++ {
		status, retryAfter, err := e.attempt(ev)
		switch {
		case err == nil && status >= 200 && status < 300:
			o.Metrics.Delivery(e.name, ResultDelivered)
			return
		case err == nil && status == http.StatusGone:
			o.Metrics.Delivery(e.name, ResultFailed)
			e.disable()
			return
		}
		why := ""
		if err != nil {
			why = err.Error()
		} else {
			why = "HTTP " + strconv.Itoa(status)
		}
		if e.stopping() || e.ctx.Err() != nil {
			e.dropped(1, "the service stopped (or the endpoint was removed) before they were delivered")
			return
		}
		wait := delay/2 + randv2.N(delay/2+1) // jitter: half to all of the delay
		delay = min(delay*2, o.MaxBackoff)
		if retryAfter > wait {
			wait = min(retryAfter, o.MaxBackoff)
		}
		if (o.MaxAttempts > 0 && attempt >= o.MaxAttempts) || time.Since(ev.at)+wait > o.MaxAge {
			o.Metrics.Delivery(e.name, ResultFailed)
			o.Log.Error("webhooks: an event was given up", "endpoint", e.name, "id", ev.id, "attempts", attempt, "err", why)
			return
		}
		o.Metrics.Delivery(e.name, ResultRetried)
		e.failLog.Log(o.Log, slog.LevelWarn, "webhooks: delivery failed; retrying", "endpoint", e.name, "id", ev.id,
			"attempt", attempt, "retry_in", wait.Round(time.Millisecond), "err", why)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-e.stop: // one last attempt
		case <-e.ctx.Done():
		}
		t.Stop()
	}
}

// attempt POSTs ev once, signed now, and returns the status and the
// answer's Retry-After.
func (e *endpoint) attempt(ev *event) (int, time.Duration, error) {
	t := e.target.Load()
	ctx, cancel := context.WithTimeout(e.ctx, t.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(ev.body))
	if err != nil {
		return 0, 0, err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	// The specification's names, as they are (not canonicalized).
	req.Header["webhook-id"] = []string{ev.id}
	req.Header["webhook-timestamp"] = []string{ts}
	req.Header["webhook-signature"] = []string{Sign(t.key, ev.id, ts, ev.body)}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", e.d.o.UserAgent)
	resp, err := e.d.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, retryAfter(resp.Header.Get("Retry-After")), nil
}

// retryAfter parses a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}
