// Package image holds the scripts that build and test the container images
// without a Docker engine (build.sh, test.sh) and the Pion viewer test.sh
// plays a session to (viewer/). This test keeps the two Dockerfiles'
// shared stages one text.
package image

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const sharedMarker = "# ---- shared stages: identical in Dockerfile and Dockerfile.cuda below this line ----\n"

// split returns a Dockerfile's head (comments and ARG defaults) and its
// shared stages.
func split(t *testing.T, name string) (head, stages string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	head, stages, ok := strings.Cut(string(b), sharedMarker)
	if !ok {
		t.Fatalf("%s lacks the line %q", name, strings.TrimSpace(sharedMarker))
	}
	return head, stages
}

func TestDockerfilesShareStages(t *testing.T) {
	cpuHead, cpu := split(t, "Dockerfile")
	cudaHead, cuda := split(t, "Dockerfile.cuda")
	if cpu != cuda {
		a, b := strings.Split(cpu, "\n"), strings.Split(cuda, "\n")
		for i := 0; i < len(a) && i < len(b); i++ {
			if a[i] != b[i] {
				t.Fatalf("the shared stages differ at their line %d:\n  Dockerfile:      %s\n  Dockerfile.cuda: %s", i+1, a[i], b[i])
			}
		}
		t.Fatalf("the shared stages differ in length: %d and %d lines", len(a), len(b))
	}
	// The heads set the bases and nothing else that would change a build.
	instr := regexp.MustCompile(`(?m)^[A-Z]+ .*$`)
	for name, head := range map[string]string{"Dockerfile": cpuHead, "Dockerfile.cuda": cudaHead} {
		var args []string
		for _, l := range instr.FindAllString(head, -1) {
			if !strings.HasPrefix(l, "ARG BUILD_IMAGE=") && !strings.HasPrefix(l, "ARG RUNTIME_IMAGE=") {
				t.Errorf("%s: above the shared stages only the base ARGs belong, found %q", name, l)
			}
			args = append(args, l)
		}
		if len(args) != 2 {
			t.Errorf("%s: want ARG BUILD_IMAGE and ARG RUNTIME_IMAGE above the shared stages, found %q", name, args)
		}
	}
	// Both publish the HTTP port and the single ICE UDP port, carry the
	// health check, and no longer the old UDP range.
	for _, want := range []string{"EXPOSE 30006/tcp 30006/udp", "HEALTHCHECK ", `"healthcheck"`} {
		if !strings.Contains(cpu, want) {
			t.Errorf("the shared stages lack %q", want)
		}
	}
	for name, head := range map[string]string{"Dockerfile": cpuHead, "Dockerfile.cuda": cudaHead} {
		if strings.Contains(head+cpu, "50000") {
			t.Errorf("%s still names the old 50000-50100 UDP range", name)
		}
		if !strings.Contains(head, "-p 30006:30006/udp") {
			t.Errorf("%s's header does not publish 30006/udp", name)
		}
	}
}
