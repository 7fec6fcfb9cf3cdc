package service

import (
	"time"

	"github.com/cloudphone/media-service/api"
	"github.com/cloudphone/media-service/config"
	"github.com/cloudphone/media-service/rtc"
)

// iceServers returns the API's ICE servers for a viewer (GET
// /api/media/ice-servers, WHEP's Link headers): the session manager's
// STUN and TURN servers, TURN with credentials derived for user at every
// call when TURN_SECRET is set, as each session's own side gets them
// (rtc.Config.ICEServers).
func iceServers(cfg config.Config) func(user string) []api.ICEServer {
	c := rtc.ConfigFrom(cfg)
	return func(user string) []api.ICEServer {
		var out []api.ICEServer
		for _, s := range c.ICEServers(user, time.Now()) {
			v := api.ICEServer{URLs: s.URLs, Username: s.Username}
			if cred, ok := s.Credential.(string); ok {
				v.Credential = cred
			}
			out = append(out, v)
		}
		return out
	}
}
