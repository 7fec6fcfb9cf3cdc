package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cloudphone/media-service/adb"
	"github.com/cloudphone/media-service/api"
	"github.com/cloudphone/media-service/fleet"
	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/media"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestInstallResult(t *testing.T) {
	for _, tc := range []struct {
		out, result, failure, err string
	}{
		{out: "Success\n", result: "Success"},
		{out: "\tpkg: /data/local/tmp/a.apk\r\nSuccess\r\n", result: "Success"},
		{out: "Failure [INSTALL_PARSE_FAILED_NOT_APK: Failed to parse /data/app/vmdl1.tmp/base.apk: Failed to load asset path /data/app/vmdl1.tmp/base.apk]\n",
			failure: "Failure [INSTALL_PARSE_FAILED_NOT_APK: Failed to parse /data/app/vmdl1.tmp/base.apk: Failed to load asset path /data/app/vmdl1.tmp/base.apk]"},
		{out: "Error: Unable to open file: /data/local/tmp/a.apk\nError: Can't open file: /data/local/tmp/a.apk\nException occurred while executing 'install':\n" +
			"java.lang.IllegalArgumentException: Error: Can't open file: /data/local/tmp/a.apk\n\tat com.android.server.pm.PackageManagerShellCommand.setParamsSize(PackageManagerShellCommand.java:604)\n",
			err: `pm install: "Error: Unable to open file: /data/local/tmp/a.apk\nError: Can't open file: /data/local/tmp/a.apk\nException occurred while executing 'install':\njava.lang.IllegalArgumentException: Error: Can't open file: /data/local/tmp/a.apk"`},
		{out: "", err: `pm install: ""`},
	} {
		result, err := installResult(tc.out)
		var ie *api.InstallError
		switch {
		case tc.result != "":
			if result != tc.result || err != nil {
				t.Errorf("%q: %q, %v", tc.out, result, err)
			}
		case tc.failure != "":
			if !errors.As(err, &ie) || ie.Failure != tc.failure {
				t.Errorf("%q: %v, want the failure %q", tc.out, err, tc.failure)
			}
		default:
			if err == nil || err.Error() != tc.err || errors.As(err, &ie) {
				t.Errorf("%q: %v, want %s", tc.out, err, tc.err)
			}
		}
	}
}

func TestPushError(t *testing.T) {
	refused := fmt.Errorf("%w: push /sdcard/Download: device: couldn't create file: Is a directory", adb.ErrADB)
	if err := pushError(refused); !errors.Is(err, api.ErrRefused) || !strings.Contains(err.Error(), "Is a directory") {
		t.Errorf("a FAIL: %v", err)
	}
	if err := pushError(fmt.Errorf("%w: host:transport:x: device 'x' not found", adb.ErrDeviceNotFound)); !errors.Is(err, media.ErrUnknownDevice) {
		t.Errorf("an unknown device: %v", err)
	}
	if err := pushError(fmt.Errorf("%w: push x: sync: read reply: EOF", adb.ErrADB)); errors.Is(err, api.ErrRefused) || errors.Is(err, media.ErrUnknownDevice) {
		t.Errorf("adb failing: %v", err)
	}
}

// TestFileTarget: in a fleet, a device's files go through the member that
// holds its Lease: here with its adb serial, elsewhere by its URL; a
// device that no member runs is ErrNotRunning, one without a pod
// unknown.
func TestFileTarget(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "redroid-0", Namespace: "ns", Labels: map[string]string{"app": "redroid"}},
		Status: corev1.PodStatus{PodIP: "10.0.1.5", Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	port := func(p int32) *int32 { return &p }
	name := "http"
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "fleet-x", Namespace: "ns", Labels: map[string]string{discoveryv1.LabelServiceName: "fleet"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: port(8080)}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.0.0.1"}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "a"}},
			{Addresses: []string{"10.0.0.2"}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "b"}},
		},
	}
	client := fake.NewClientset(pod, slice)
	pods, err := fleet.NewPods(ctx, fleet.PodsConfig{Client: client, Namespace: "ns", Selector: "app=redroid", Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer pods.Close()
	leases := map[string]*fleet.Leases{}
	for _, id := range []string{"a", "b"} {
		l, err := fleet.NewLeases(fleet.LeasesConfig{Client: client.CoordinationV1(), Namespace: "ns", Identity: id, Log: log})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		leases[id] = l
	}
	members, err := fleet.NewMembers(ctx, fleet.MembersConfig{Client: client, Namespace: "ns", Service: "fleet", Identity: "a", URL: "http://10.0.0.1:8080", Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer members.Close(ctx)
	m := &member{name: "a", pods: pods, leases: leases["a"], members: members, serials: map[string]string{}}
	testutil.Eventually(t, "the pod and the members to be known", 10*time.Second, func() bool {
		_, ok := pods.Locate("redroid-0")
		_, okb := members.Lookup("b")
		return ok && okb
	})

	if _, _, err := m.fileTarget(ctx, "redroid-9"); !errors.Is(err, media.ErrUnknownDevice) {
		t.Errorf("a device without a pod: %v", err)
	}
	if _, _, err := m.fileTarget(ctx, "redroid-0"); !errors.Is(err, api.ErrNotRunning) {
		t.Errorf("a device nobody runs: %v", err)
	}
	if _, err := leases["b"].Claim(ctx, "redroid-0"); err != nil {
		t.Fatal(err)
	}
	if serial, owner, err := m.fileTarget(ctx, "redroid-0"); err != nil || serial != "" || owner != "http://10.0.0.2:8080" {
		t.Errorf("a device b runs: %q %q %v", serial, owner, err)
	}
	if err := leases["b"].Release(ctx, "redroid-0"); err != nil {
		t.Fatal(err)
	}
	if _, err := leases["a"].Claim(ctx, "redroid-0"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.fileTarget(ctx, "redroid-0"); !errors.Is(err, media.ErrUnavailable) {
		t.Errorf("a device held here, not connected yet: %v", err)
	}
	m.serials["redroid-0"] = "10.0.1.5:5555"
	if serial, owner, err := m.fileTarget(ctx, "redroid-0"); err != nil || serial != "10.0.1.5:5555" || owner != "" {
		t.Errorf("a device running here: %q %q %v", serial, owner, err)
	}
}
