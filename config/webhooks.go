package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cloudphone/media-service/webhook"
)

// WebhookEndpoint is one receiver of the lifecycle webhooks (package
// webhook): its name (in logs and metrics), URL, secret and event filter
// (path.Match patterns of event types; none: every type).
type WebhookEndpoint struct {
	Name, URL, Secret string
	Events            []string
}

// DefaultWebhook names the endpoint of WEBHOOK_URL.
const DefaultWebhook = "default"

// WebhookEndpoints returns the webhook endpoints: WEBHOOK_URL's, named
// "default", with WEBHOOK_SECRET and WEBHOOK_EVENTS, then WEBHOOKS',
// in order. WEBHOOKS holds entries separated by ";", each
// NAME=URL|SECRET or NAME=URL|SECRET|EVENTS, EVENTS comma-separated:
//
//	WEBHOOKS=audit=https://a.example/hook|whsec_...|session.*,device.*;billing=https://b.example/in|whsec_...|session.ended
//
// It checks the syntax only; Validate checks the values.
func (c Config) WebhookEndpoints() ([]WebhookEndpoint, error) {
	var out []WebhookEndpoint
	if c.WebhookURL != "" {
		if c.WebhookSecret == "" {
			return nil, fmt.Errorf("%w: WEBHOOK_URL is set without WEBHOOK_SECRET (whsec_ and the base64 of a key of at least %d bytes): the events are signed", ErrInvalid, webhook.MinSecretBytes)
		}
		out = append(out, WebhookEndpoint{Name: DefaultWebhook, URL: c.WebhookURL, Secret: c.WebhookSecret, Events: c.WebhookEvents})
	}
	for i, entry := range strings.Split(c.Webhooks, ";") {
		if entry = strings.TrimSpace(entry); entry == "" {
			continue
		}
		name, rest, ok := strings.Cut(entry, "=")
		parts := strings.Split(rest, "|")
		if !ok || len(parts) < 2 || len(parts) > 3 {
			return nil, fmt.Errorf("%w: WEBHOOKS entry %d is not NAME=URL|SECRET or NAME=URL|SECRET|EVENTS", ErrInvalid, i+1)
		}
		e := WebhookEndpoint{Name: strings.TrimSpace(name), URL: strings.TrimSpace(parts[0]), Secret: strings.TrimSpace(parts[1])}
		if len(parts) == 3 {
			for p := range strings.SplitSeq(parts[2], ",") {
				if p = strings.TrimSpace(p); p != "" {
					e.Events = append(e.Events, p)
				}
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// validWebhooks checks the webhook settings.
func (c Config) validWebhooks() error {
	if c.WebhookTimeout < time.Second || c.WebhookTimeout > 5*time.Minute {
		return fmt.Errorf("%w: WEBHOOK_TIMEOUT=%v (want 1s..5m)", ErrInvalid, c.WebhookTimeout)
	}
	eps, err := c.WebhookEndpoints()
	if err != nil {
		return err
	}
	names := map[string]bool{}
	var errs []error
	for _, e := range eps {
		from := "WEBHOOKS"
		if e.Name == DefaultWebhook && !names[e.Name] && c.WebhookURL != "" {
			from = "WEBHOOK_URL, WEBHOOK_SECRET, WEBHOOK_EVENTS"
		}
		if names[e.Name] {
			errs = append(errs, fmt.Errorf("%w: WEBHOOKS names two endpoints %q (%q is WEBHOOK_URL's)", ErrInvalid, e.Name, DefaultWebhook))
			continue
		}
		names[e.Name] = true
		if err := (webhook.Endpoint{Name: e.Name, URL: e.URL, Secret: e.Secret, Events: e.Events}).Check(); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %w", ErrInvalid, from, err))
		}
	}
	return errors.Join(errs...)
}

// shownWebhooks is WEBHOOKS as it may be shown: each entry's secret is
// "(secret)".
func shownWebhooks(v string) string {
	var out []string
	for entry := range strings.SplitSeq(v, ";") {
		if entry = strings.TrimSpace(entry); entry == "" {
			continue
		}
		parts := strings.Split(entry, "|")
		if len(parts) >= 2 {
			parts[1] = "(secret)"
		}
		out = append(out, strings.Join(parts, "|"))
	}
	return strings.Join(out, ";")
}
