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
