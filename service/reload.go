package service

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cloudphone/media-service/api"
	"github.com/cloudphone/media-service/config"
	"github.com/cloudphone/media-service/device"
	"github.com/cloudphone/media-service/metrics"
	"github.com/cloudphone/media-service/rtc"
	"github.com/prometheus/client_golang/prometheus"
)

// Live reload: on a signal (SIGHUP, or a change of CONFIG_FILE with
// CONFIG_WATCH) the service reads its configuration again (Options.Load:
// the file, then the environment, which keeps winning) and applies the
// settings config.Live marks live, without dropping a session:
//
//   - LOG_LEVEL and the pprof sampling at once;
//   - API_TOKENS, CORS_ALLOW_ORIGINS and RATE_LIMIT for the requests from
//     then on; the sessions of a token removed, or whose secret or rights
//     changed, end;
//   - JWT_* (signed access tokens) for the requests from then on: a new
//     api.Verifier when a setting, or the keys file's content, changed
//     (sessions already opened with a signed token are left to their
//     exp and limits);
//   - the session limits for the sessions admitted from then on, the bit
//     rates and the session time limits (MAX_SESSION_DURATION and the
//     others of rtc's limits.go) for the sessions created from then on;
//   - VIDEO_FRAMERATE, VIDEO_BITRATE, H264_PRESET, H264_PROFILE,
//     VIDEO_KEYFRAME_INTERVAL and the bit-rate bounds for the encoders
//     and captures started from then on (a new output, a new viewer's
//     rungs, a device that starts), so that no running stream stalls;
//     WORKER_COUNT at once (device.Registry.SetLive).
//
// Each component takes its settings from the configuration with the same
// function at start and at reload (rtc.ConfigFrom, device.ConfigFrom) and
// picks the live ones itself (SetLive).
//
// A changed setting that needs a restart is named in one log line and
// left as it was. A file that does not load, or a result that is not
// valid, changes nothing and the log says why. The configuration in
// force is one immutable config.Config at a time.

// reloadKey is the context key of WithReload.
type reloadKey struct{}

// WithReload returns a copy of ctx that carries reload, for a caller that
// reaches Run without building its Options: Run then reloads on every
// receive, as with Options.Reload.
func WithReload(ctx context.Context, reload <-chan struct{}) context.Context {
	return context.WithValue(ctx, reloadKey{}, reload)
}

// ReloadOf returns the reload channel ctx carries (nil: none).
func ReloadOf(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(reloadKey{}).(<-chan struct{})
	return ch
}

// reloader applies reloaded configurations to the running service.
type reloader struct {
	log   *slog.Logger
	level *slog.LevelVar // nil: the level is not the service's to change
	load  func() (config.Config, error)

	srv      *api.Server
	manager  *rtc.Manager
	registry *device.Registry
	revoked  *revocations
	hooks    *hooks // the webhook endpoints (nil: none to reload)
	// jwt verifies signed access tokens (nil: none accepted); a reload
	// that changes it makes the next one from ctx and closes it.
	jwt *api.Verifier
	ctx context.Context
	// workers resolves WORKER_COUNT=auto (service.workers).
	workers func(config.Config) int

	metrics *metrics.Reloads

	cur config.Config // only run touches it after start
}

func newReloader(log *slog.Logger, o Options, cfg config.Config) *reloader {
	return &reloader{log: log, level: o.LogLevel, load: o.Load, cur: cfg, metrics: metrics.NewReloads(), revoked: &revocations{}}
}

func (r *reloader) collectors() []prometheus.Collector { return r.metrics.Collectors() }

// run reloads on each receive from signals until ctx ends.
func (r *reloader) run(ctx context.Context, signals <-chan struct{}) {
	if signals == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-signals:
			r.reload()
		}
	}
}

// reload reads the configuration again and applies it, or changes
// nothing and says why.
func (r *reloader) reload() {
	if r.load == nil {
		r.failed(errNoLoader)
		return
	}
	next, err := r.load()
	if err != nil {
		r.failed(err)
		return
	}
	eff, changes, err := r.cur.Reload(next)
	verifier := r.jwt
	if err == nil {
		verifier, err = r.verifier(eff)
	}
	if err == nil {
		err = r.manager.SetLive(rtc.ConfigFrom(eff))
	}
	if err != nil {
		if verifier != r.jwt {
			verifier.Close()
		}
		r.failed(err)
		return
	}
	if old := r.jwt; verifier != old {
		r.jwt = verifier
		defer old.Close() // once the API uses the new one (apply)
		r.log.Info("signed access tokens: keys and settings reloaded", "algorithms", verifier.Algorithms())
	}
	var applied, restart []string
	for _, ch := range changes {
		if ch.Live {
			applied = append(applied, ch.String())
		} else {
			restart = append(restart, ch.String())
		}
	}
	r.apply(eff)
	ended := r.endSessions(goneTokens(r.cur.Tokens, eff.Tokens))
	r.cur = eff
	r.metrics.Applied()
	if len(restart) > 0 {
		r.log.Warn("configuration reload: these changes need a restart and were left as they were", "settings", strings.Join(restart, "; "))
	}
	if len(applied) == 0 {
		r.log.Info("configuration reloaded: no live setting changed", "file", eff.ConfigFile)
		return
	}
	r.log.Info("configuration reloaded", "file", eff.ConfigFile, "applied", strings.Join(applied, "; "), "sessions_ended", ended)
}

// errNoLoader fails a reload asked of a Run without Options.Load.
var errNoLoader = errors.New("the service was started without a way to read its configuration again (Options.Load)")

func (r *reloader) failed(err error) {
	r.metrics.Failed()
	r.log.Error("configuration reload failed: nothing changed", "err", err)
}

// apply sets eff's live settings everywhere they act.
func (r *reloader) apply(eff config.Config) {
	if r.level != nil {
		var l slog.Level
		if l.UnmarshalText([]byte(eff.LogLevel)) == nil {
			r.level.Set(l)
		}
	}
	runtime.SetBlockProfileRate(eff.PprofBlockRate)
	runtime.SetMutexProfileFraction(eff.PprofMutexFraction)
	r.srv.Update(api.Live{Tokens: apiTokens(eff.Tokens), JWT: r.jwt, CORSOrigins: eff.CORSAllowOrigins, RateLimit: eff.RateLimit})
	c := device.ConfigFrom(eff)
	if r.workers != nil {
		c.Workers = r.workers(eff)
	}
	r.registry.SetLive(c)
	r.hooks.reload(eff) // WEBHOOK_URL, WEBHOOKS and the others
}

// verifier returns the signed token verifier for eff: the running one
// when eff's settings and keys file are those it was made from, else a
// new one (nil without a key).
func (r *reloader) verifier(eff config.Config) (*api.Verifier, error) {
	o := jwtOptions(eff, r.log)
	if r.jwt.Current(o) {
		return r.jwt, nil
	}
	ctx := r.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	return api.NewVerifier(ctx, o)
}

// goneTokens returns the names of the tokens in old that next no longer
// has as they were: removed, or given a new secret or rights.
func goneTokens(old, next []config.Token) []string {
	var gone []string
	for _, t := range old {
		if !slices.ContainsFunc(next, t.Same) {
			gone = append(gone, t.Name)
		}
	}
	return gone
}

// endSessions ends the sessions of the tokens gone (goneTokens), which
// the API refuses from now on (apply ran), and returns how many ended. A
// session whose creation is under way, let in before the API changed,
// is ended by sessions.Create when it returns (revocations).
func (r *reloader) endSessions(gone []string) int {
	if len(gone) == 0 {
		return 0
	}
	r.revoked.revoke(gone, time.Now())
	n := 0
	for _, s := range r.manager.List() {
		if slices.Contains(gone, s.Token) && r.manager.DeleteWithReason(s.ID, rtc.EndTokenRevoked) == nil {
			n++
		}
	}
	if n > 0 {
		r.log.Info("sessions ended: their token was removed or changed", "tokens", strings.Join(gone, ","), "sessions", n)
	}
	return n
}

// revocations remember when each token name was last removed or changed
// by a reload, for the sessions whose creation a reload overtook.
type revocations struct {
	mu sync.Mutex
	at map[string]time.Time
}

// revoke notes that names were revoked at t.
func (v *revocations) revoke(names []string, t time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.at == nil {
		v.at = map[string]time.Time{}
	}
	for _, n := range names {
		v.at[n] = t
	}
}

// since reports whether the token name was revoked at or after checked,
// when the API let the caller in with it: the caller's session must not
// outlive the reload.
func (v *revocations) since(name string, checked time.Time) bool {
	if name == "" {
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	at, ok := v.at[name]
	return ok && !at.Before(checked)
}
