package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

const (
	testWebhookSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	testWebhookSecret2 = "whsec_c2Vjb25kLXNlY3JldC1rZXktMDEyMzQ1Njc4OQ=="
)

func TestWebhookEndpoints(t *testing.T) {
	c, err := Load("", env(map[string]string{
		"WEBHOOK_URL": "https://hooks.example/in", "WEBHOOK_SECRET": testWebhookSecret, "WEBHOOK_EVENTS": "session.*, draining",
		"WEBHOOKS":        " audit=https://a.example/hook|" + testWebhookSecret2 + "|session.*,device.* ;billing=http://b.example:8080/in?x=1|" + testWebhookSecret + ";",
		"WEBHOOK_TIMEOUT": "30s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	eps, err := c.WebhookEndpoints()
	if err != nil {
		t.Fatal(err)
	}
	want := []WebhookEndpoint{
		{Name: "default", URL: "https://hooks.example/in", Secret: testWebhookSecret, Events: []string{"session.*", "draining"}},
		{Name: "audit", URL: "https://a.example/hook", Secret: testWebhookSecret2, Events: []string{"session.*", "device.*"}},
		{Name: "billing", URL: "http://b.example:8080/in?x=1", Secret: testWebhookSecret},
	}
	if !slices.EqualFunc(eps, want, func(a, b WebhookEndpoint) bool {
		return a.Name == b.Name && a.URL == b.URL && a.Secret == b.Secret && slices.Equal(a.Events, b.Events)
	}) {
		t.Errorf("endpoints %+v,\nwant %+v", eps, want)
	}
	if c.WebhookTimeout.String() != "30s" {
		t.Errorf("timeout %v", c.WebhookTimeout)
	}
	// Shown without their secrets.
	for _, s := range c.Settings() {
		switch s.Name {
		case "WEBHOOK_SECRET":
			if s.Value != "(set)" || !s.Secret || !s.Live {
				t.Errorf("WEBHOOK_SECRET shown as %+v", s)
			}
		case "WEBHOOKS":
			if strings.Contains(s.Value, "whsec_") || !s.Secret || !s.Live ||
				s.Value != "audit=https://a.example/hook|(secret)|session.*,device.*;billing=http://b.example:8080/in?x=1|(secret)" {
				t.Errorf("WEBHOOKS shown as %+v", s)
			}
		case "WEBHOOK_URL", "WEBHOOK_EVENTS", "WEBHOOK_TIMEOUT":
			if !s.Live {
				t.Errorf("%s is not live", s.Name)
			}
		}
	}
	// None by default.
	if eps, err := Default().WebhookEndpoints(); err != nil || len(eps) != 0 {
		t.Errorf("default endpoints %v, %v", eps, err)
	}
}

func TestWebhookValidation(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"WEBHOOK_URL": "https://a.example/"}, "without WEBHOOK_SECRET"},
		{map[string]string{"WEBHOOK_URL": "https://a.example/", "WEBHOOK_SECRET": "not-a-secret"}, "whsec_"},
		{map[string]string{"WEBHOOK_URL": "https://a.example/", "WEBHOOK_SECRET": "whsec_c2hvcnQ="}, "at least 16"},
		{map[string]string{"WEBHOOK_URL": "ftp://a.example/", "WEBHOOK_SECRET": testWebhookSecret}, "http"},
		{map[string]string{"WEBHOOK_URL": "https://a.example/", "WEBHOOK_SECRET": testWebhookSecret, "WEBHOOK_EVENTS": "sesion.*"}, "matches no event type"},
		{map[string]string{"WEBHOOKS": "a=https://a.example/"}, "NAME=URL|SECRET"},
		{map[string]string{"WEBHOOKS": "a b=https://a.example/|" + testWebhookSecret}, "name"},
		{map[string]string{"WEBHOOKS": "a=https://a.example/|" + testWebhookSecret + ";a=https://b.example/|" + testWebhookSecret}, "two endpoints"},
		{map[string]string{"WEBHOOK_URL": "https://a.example/", "WEBHOOK_SECRET": testWebhookSecret, "WEBHOOKS": "default=https://b.example/|" + testWebhookSecret}, "two endpoints"},
		{map[string]string{"WEBHOOK_TIMEOUT": "10ms"}, "WEBHOOK_TIMEOUT"},
	} {
		_, err := Load("", env(tc.env))
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one with %q", tc.env, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") {
			t.Errorf("the error shows a secret: %v", err)
		}
	}
	// A secret without a URL is harmless.
	if _, err := Load("", env(map[string]string{"WEBHOOK_SECRET": testWebhookSecret})); err != nil {
		t.Error(err)
	}
}

// TestWebhookReload: the webhook settings are live; a new secret shows
// as a change though it is not shown.
func TestWebhookReload(t *testing.T) {
	base := map[string]string{"WEBHOOK_URL": "https://a.example/", "WEBHOOK_SECRET": testWebhookSecret}
	cur, err := Load("", env(base))
	if err != nil {
		t.Fatal(err)
	}
	next, err := Load("", env(map[string]string{"WEBHOOK_URL": "https://a.example/", "WEBHOOK_SECRET": testWebhookSecret2,
		"WEBHOOKS": "b=https://b.example/|" + testWebhookSecret}))
	if err != nil {
		t.Fatal(err)
	}
	eff, changes, err := cur.Reload(next)
	if err != nil {
		t.Fatal(err)
	}
	if eff.WebhookSecret != testWebhookSecret2 || eff.Webhooks == "" {
		t.Errorf("not applied: %+v", eff)
	}
	var got []string
	for _, ch := range changes {
		got = append(got, ch.String())
	}
	if !slices.Contains(got, "WEBHOOK_SECRET: (set) -> (set) (secret changed)") || !slices.Contains(got, `WEBHOOKS: "" -> b=https://b.example/|(secret)`) {
		t.Errorf("changes %q", got)
	}
}
