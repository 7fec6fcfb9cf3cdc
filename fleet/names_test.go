package fleet

import (
	"regexp"
	"strings"
	"testing"
)

// dnsSubdomain is the rule for an object's name (RFC 1123 subdomain).
var dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

func TestLeaseName(t *testing.T) {
	ids := []string{"127.0.0.1:5555", "emulator-5554", "Redroid_Pod.42", "::", "a", strings.Repeat("X", 128), "device-1", "DEVICE-1", "-x-"}
	seen := map[string]string{}
	for _, id := range ids {
		n := LeaseName(id)
		if len(n) > 63 || !dnsSubdomain.MatchString(n) || !strings.HasPrefix(n, "msdev-") {
			t.Errorf("LeaseName(%q) = %q: not a short DNS name with the prefix", id, n)
		}
		if prev, ok := seen[n]; ok {
			t.Errorf("%q and %q share the Lease %q", prev, id, n)
		}
		seen[n] = id
		if LeaseName(id) != n {
			t.Errorf("LeaseName(%q) is not stable", id)
		}
	}
	if got := LeaseName("127.0.0.1:5555"); !strings.HasPrefix(got, "msdev-127-0-0-1-5555-") {
		t.Errorf("LeaseName keeps no readable ID: %q", got)
	}
}

func FuzzLeaseName(f *testing.F) {
	for _, s := range []string{"127.0.0.1:5555", "", "é", "A_B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		n := LeaseName(id)
		if len(n) > 63 || !dnsSubdomain.MatchString(n) {
			t.Fatalf("LeaseName(%q) = %q", id, n)
		}
	})
}

func TestMemberLeaseName(t *testing.T) {
	ids := []string{"media-service-0", "Media_Service.1", "", strings.Repeat("m", 253), "media-service-0.", "-"}
	seen := map[string]string{}
	for _, id := range ids {
		n := MemberLeaseName(id)
		if len(n) > 63 || !dnsSubdomain.MatchString(n) || !strings.HasPrefix(n, "msmember-") {
			t.Errorf("MemberLeaseName(%q) = %q: not a short DNS name with the prefix", id, n)
		}
		if prev, ok := seen[n]; ok {
			t.Errorf("%q and %q share the Lease %q", prev, id, n)
		}
		seen[n] = id
		if n == LeaseName(id) {
			t.Errorf("member and device Lease names meet: %q", n)
		}
	}
	if got := MemberLeaseName("media-service-0"); !strings.HasPrefix(got, "msmember-media-service-0-") {
		t.Errorf("MemberLeaseName keeps no readable identity: %q", got)
	}
}

func TestMemberTag(t *testing.T) {
	hexTag := regexp.MustCompile(`^[0-9a-f]{8}$`)
	seen := map[string]string{}
	for _, id := range []string{"media-service-0", "media-service-1", "", "a"} {
		tag := MemberTag(id)
		if !hexTag.MatchString(tag) {
			t.Errorf("MemberTag(%q) = %q: not 8 hex digits", id, tag)
		}
		if prev, ok := seen[tag]; ok {
			t.Errorf("%q and %q share the tag %q", prev, id, tag)
		}
		seen[tag] = id
		if MemberTag(id) != tag {
			t.Errorf("MemberTag(%q) is not stable", id)
		}
	}
	for id, want := range map[string]string{"": "e3b0c442", "media-service-0": "4a514f77"} { // sha256sum's
		if got := MemberTag(id); got != want {
			t.Errorf("MemberTag(%q) = %q, want %q", id, got, want)
		}
	}
}
