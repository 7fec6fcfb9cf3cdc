package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/cloudphone/media-service/api"
	"github.com/cloudphone/media-service/rtc"
	"github.com/pion/webrtc/v4"
)

// sessions adapts rtc.Manager to the API; it refuses new sessions while
// the service drains, and those of a token a reload removed.
type sessions struct {
	m       *rtc.Manager
	adm     *admission
	revoked *revocations
}

var _ api.Sessions = sessions{}

// errRevoked refuses a session whose token a reload removed or changed
// while the session was being created; the API answers 401.
var errRevoked = errors.New("the API token was removed or changed by a configuration reload; the session was ended")

// errorStatus is the API's status for a Sessions error.
func errorStatus(err error) int {
	if errors.Is(err, errRevoked) {
		return http.StatusUnauthorized
	}
	return rtc.StatusCode(err)
}

func (s sessions) Create(ctx context.Context, caller api.Caller, device, user, offer string) (string, string, error) {
	if err := s.adm.Ready(); err != nil {
		return "", "", err
	}
	if s.revoked.since(caller.Token, caller.Checked) {
		return "", "", errRevoked
	}
	// Limits key on the caller: its token, or with AUTH_DISABLED its
	// address.
	// A signed token's claims: its subject's own session bound, its
	// expiry and its longest session.
	sess, answer, err := s.m.Create(ctx, rtc.CreateRequest{DeviceID: device, UserID: user, Token: principal(caller), ViewOnly: caller.ViewOnly, Offer: offer,
		TokenKind: caller.Kind, MaxTokenSessions: caller.MaxSessions, Expires: caller.Expires, MaxDuration: caller.MaxSessionDuration})
	if err != nil {
		return "", "", err
	}
	id := sess.Info().ID
	// A reload that removed the token while the session was being
	// created may have listed the sessions before this one was there.
	if s.revoked.since(caller.Token, caller.Checked) {
		s.m.DeleteWithReason(id, rtc.EndTokenRevoked)
		return "", "", errRevoked
	}
	return id, answer, nil
}

func (s sessions) List() []api.SessionView { return views(s.m.List(), sessionView) }

func (s sessions) Get(id string) (api.SessionView, error) {
	sess, err := s.m.Get(id)
	if err != nil {
		// A session that ended with a reason (a time limit) is still
		// described, closed with its endReason, for a minute.
		if info, ok := s.m.Ended(id); ok {
			return sessionView(info), nil
		}
		return api.SessionView{}, err
	}
	return sessionView(sess.Info()), nil
}

func (s sessions) Delete(id string) error { return s.m.Delete(id) }

func (s sessions) AddSDPFragment(id, frag string) error { return s.m.AddSDPFragment(id, frag) }

func (s sessions) AddCandidate(id, candidate string) error {
	if candidate == "" {
		return nil // end of candidates: nothing to do
	}
	var init webrtc.ICECandidateInit
	if strings.HasPrefix(candidate, "{") {
		if err := json.Unmarshal([]byte(candidate), &init); err != nil {
			return fmt.Errorf("%w: candidate is not valid JSON", rtc.ErrBadRequest)
		}
	} else {
		init.Candidate = candidate
	}
	return s.m.AddCandidate(id, init)
}

// principal names the caller for rtc's limits: its token's name, or its
// address when authentication is off.
func principal(c api.Caller) string {
	if c.Token != "" {
		return c.Token
	}
	if c.Addr.IsValid() {
		return "addr-" + strings.ReplaceAll(c.Addr.String(), "%", "-")
	}
	return ""
}
