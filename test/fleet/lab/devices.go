package lab

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/cloudphone/media-service/devicesim"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Labels and annotations of the lab's objects.
const (
	// DeviceLabel selects the device pods (DEVICE_SELECTOR=app=devicesim).
	DeviceLabel    = "app"
	DeviceApp      = "devicesim"
	DeviceSelector = DeviceLabel + "=" + DeviceApp
	// PortAnnotation names a device pod's adb port.
	PortAnnotation = "media-service/adb-port"
	// ServiceName is the headless Service of the instances (FLEET_SERVICE).
	ServiceName = "media-service"
	// InstanceApp labels the instances' pods (app=media-service).
	InstanceApp = "media-service"
)

// Device is one simulated device of the lab: a devicesim in the lab's
// process on its own loopback port, and its pod.
type Device struct {
	// ID is the device's ID in the service: its pod's name (phone-1...).
	ID string
	// Sim is the simulated device, in process.
	Sim *devicesim.Device
	// Port is its adb port on 127.0.0.1.
	Port int
	// Node is its pod's node (Config.Nodes), "" without nodes.
	Node string
}

// Addr returns the device's adb address (127.0.0.1:PORT).
func (d *Device) Addr() string { return d.Sim.Addr() }

// ScreenrecordStreams returns how many screenrecords the device serves
// now, over every adb server ([devicesim.Device.ScreenrecordStreams]).
func (d *Device) ScreenrecordStreams() int { return d.Sim.ScreenrecordStreams() }

// startDevice starts a devicesim on a free loopback port.
func startDevice(id string, fps int, log *slog.Logger) (*Device, error) {
	sim, err := devicesim.New(devicesim.Options{
		Addr:   "127.0.0.1:0",
		Serial: id,
		Model:  "LabPhone",
		Width:  360, Height: 640, // small: six of them encode on one machine
		FPS:    fps,
		Logger: log.With("sim", id),
	})
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", id, err)
	}
	sim.Start()
	port := 0
	if _, p, err := net.SplitHostPort(sim.Addr()); err == nil {
		port, _ = strconv.Atoi(p)
	}
	return &Device{ID: id, Sim: sim, Port: port}, nil
}

// createDevicePod creates the device's pod and sets its status as a
// kubelet would: running on 127.0.0.1 and ready.
func createDevicePod(ctx context.Context, client kubernetes.Interface, ns string, d *Device) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        d.ID,
			Labels:      map[string]string{DeviceLabel: DeviceApp},
			Annotations: map[string]string{PortAnnotation: strconv.Itoa(d.Port)},
		},
		Spec: corev1.PodSpec{NodeName: d.Node, Containers: []corev1.Container{{
			Name:  "android",
			Image: "devicesim",
			Ports: []corev1.ContainerPort{{Name: "adb", ContainerPort: int32(d.Port), Protocol: corev1.ProtocolTCP}},
		}}},
	}
	return createRunningPod(ctx, client, ns, pod)
}

// createRunningPod creates pod and gives it the status of a running, ready
// pod on 127.0.0.1 (the kubelet stand-in).
func createRunningPod(ctx context.Context, client kubernetes.Interface, ns string, pod *corev1.Pod) error {
	created, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("pod %s: %w", pod.Name, err)
	}
	now := metav1.Now()
	created.Status = corev1.PodStatus{
		Phase:     corev1.PodRunning,
		HostIP:    "127.0.0.1",
		HostIPs:   []corev1.HostIP{{IP: "127.0.0.1"}},
		PodIP:     "127.0.0.1",
		PodIPs:    []corev1.PodIP{{IP: "127.0.0.1"}},
		StartTime: &now,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		},
	}
	if _, err := client.CoreV1().Pods(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("pod %s status: %w", pod.Name, err)
	}
	return nil
}
