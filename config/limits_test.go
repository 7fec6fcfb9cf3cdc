package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The session time limits: defaults, parsing, bounds with messages that
// name the variable, and live reload.
func TestSessionLimitVariables(t *testing.T) {
	c, err := Load("", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxSessionDuration != 0 || c.TokenExpiryEndsSessions || c.ControlIdleTimeout != 0 || c.ControlIdleEndsSession || c.SessionWarningBefore != time.Minute {
		t.Errorf("defaults %v %v %v %v %v", c.MaxSessionDuration, c.TokenExpiryEndsSessions, c.ControlIdleTimeout, c.ControlIdleEndsSession, c.SessionWarningBefore)
	}
	c, err = Load("", env(map[string]string{
		"MAX_SESSION_DURATION": "20s", "TOKEN_EXPIRY_ENDS_SESSIONS": "true", "CONTROL_IDLE_TIMEOUT": "2m",
		"CONTROL_IDLE_ENDS_SESSION": "true", "SESSION_WARNING_BEFORE": "0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxSessionDuration != 20*time.Second || !c.TokenExpiryEndsSessions || c.ControlIdleTimeout != 2*time.Minute || !c.ControlIdleEndsSession || c.SessionWarningBefore != 0 {
		t.Errorf("loaded %+v", c)
	}
	for name, v := range map[string]string{
		"MAX_SESSION_DURATION": "500ms", "CONTROL_IDLE_TIMEOUT": "-1s", "SESSION_WARNING_BEFORE": "2h",
		"TOKEN_EXPIRY_ENDS_SESSIONS": "sometimes",
	} {
		_, err := Load("", env(map[string]string{name: v}))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: %v", name, v, err)
		}
	}
	if _, err := Load("", env(map[string]string{"MAX_SESSION_DURATION": "721h"})); err == nil || !strings.Contains(err.Error(), "want 0 for no limit, or 1s..720h") {
		t.Errorf("MAX_SESSION_DURATION=721h: %v", err)
	}
	for _, name := range []string{"MAX_SESSION_DURATION", "TOKEN_EXPIRY_ENDS_SESSIONS", "CONTROL_IDLE_TIMEOUT", "CONTROL_IDLE_ENDS_SESSION", "SESSION_WARNING_BEFORE"} {
		if !Live(name) {
			t.Errorf("%s is not live", name)
		}
	}
	cur, _ := Load("", env(nil))
	next, _ := Load("", env(map[string]string{"MAX_SESSION_DURATION": "1h"}))
	out, changes, err := cur.Reload(next)
	if err != nil || out.MaxSessionDuration != time.Hour || len(changes) != 1 || !changes[0].Live {
		t.Errorf("reload: %v %v %v", out.MaxSessionDuration, changes, err)
	}
}
