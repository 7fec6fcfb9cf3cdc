package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Device sources of the instances (DEVICE_SOURCE).
const (
	// SourceKubernetes: the instances find the devices' pods through the
	// API server, and share them as a fleet. The default.
	SourceKubernetes = "kubernetes"
	// SourceStatic: every instance is given every device (ADB_DEVICES);
	// no fleet.
	SourceStatic = "static"
)

// Config configures a lab. The zero value of every field selects its
// default.
type Config struct {
	// Repo is the service's repository root, where Start builds
	// cmd/media-service unless Binary is set. Default: ../.. of the
	// working directory (test/fleet's).
	Repo string
	// Binary is a media-service program built already.
	Binary string
	// Dir holds the lab's files: the kubeconfig, each instance's folder
	// and log, the adb servers' homes, the API server's log. Default: a
	// new temporary folder, removed by Close; a folder given here stays.
	Dir string
	// Instances is how many instances start (media-1...). Default 3.
	Instances int
	// Devices is how many simulated devices run (phone-1...). Default 6.
	Devices int
	// Nodes, when above 0, spreads the instances and the devices' pods
	// over that many nodes (node-1...), round robin: the pods'
	// spec.nodeName and the endpoints' nodeName say which. 0: no node.
	Nodes int
	// DeviceFPS is the simulated devices' frame rate. Default 15 (six
	// of them encode on one machine beside everything else).
	DeviceFPS int
	// Namespace holds the devices' pods, the Leases, the Service and its
	// EndpointSlices. Default "fleet".
	Namespace string
	// TokenName and Token are the API token every instance accepts
	// (API_TOKENS=NAME=TOKEN). Default "lab" and a random token.
	TokenName, Token string
	// LeaseDuration is LEASE_DURATION. Default 10s.
	LeaseDuration time.Duration
	// DrainTimeout is DRAIN_TIMEOUT. Default 5s.
	DrainTimeout time.Duration
	// DeviceSource is DEVICE_SOURCE: SourceKubernetes (default) or
	// SourceStatic (ADB_DEVICES lists every device).
	DeviceSource string
	// LogLevel is LOG_LEVEL. Default "debug".
	LogLevel string
	// Env adds NAME=VALUE variables to every instance's environment,
	// after (and over) the lab's.
	Env []string
	// Output, when set, receives every instance's output line by line,
	// prefixed with [media-N], and the lab's own messages.
	Output io.Writer
	// EndpointIP is the address of the instances in their EndpointSlices,
	// the one their peers reach them on. The API server refuses loopback
	// addresses there, so it is by default the first IPv4 address of an
	// interface that is up and not loopback (the instances listen on
	// every interface).
	EndpointIP string
	// StartTimeout bounds how long Start waits for every instance to be
	// ready. Default 2 minutes; negative: Start does not wait.
	StartTimeout time.Duration
	// APIServerFlags are kube-apiserver flags after the lab's own, e.g.
	// --authorization-mode=RBAC. Default: none (every request allowed).
	APIServerFlags []string
	// BeforeInstances, when set, runs once the API server, the namespace,
	// the Service and the devices' pods exist, before the first instance
	// starts: a test applies RBAC objects there and writes
	// InstanceKubeconfig. Its error fails Start.
	BeforeInstances func(ctx context.Context, l *Lab) error
	// InstanceKubeconfig, when set, is the kubeconfig file the instances
	// use (KUBECONFIG) in place of the lab's own, e.g. one with a
	// ServiceAccount's token (WriteTokenKubeconfig); the lab itself keeps
	// its own (admin) configuration. It must exist once BeforeInstances
	// has run. Default: the lab's kubeconfig.
	InstanceKubeconfig string
}

func (c Config) withDefaults() Config {
	if c.Repo == "" {
		c.Repo = "../.."
	}
	if c.Instances == 0 {
		c.Instances = 3
	}
	if c.DeviceFPS <= 0 {
		c.DeviceFPS = 15
	}
	if c.Devices == 0 {
		c.Devices = 6
	}
	if c.Namespace == "" {
		c.Namespace = "fleet"
	}
	if c.TokenName == "" {
		c.TokenName = "lab"
	}
	if c.Token == "" {
		c.Token = randomHex(24)
	}
	if c.LeaseDuration == 0 {
		c.LeaseDuration = 10 * time.Second
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 5 * time.Second
	}
	if c.DeviceSource == "" {
		c.DeviceSource = SourceKubernetes
	}
	if c.LogLevel == "" {
		c.LogLevel = "debug"
	}
	if c.EndpointIP == "" {
		c.EndpointIP = hostIP()
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 2 * time.Minute
	}
	return c
}

// Lab is a fleet on one machine: a real kube-apiserver with an embedded
// etcd, simulated devices in this process with their pods, instances of
// the service as processes, the endpoint controller's stand-in writing
// their EndpointSlices, and a proxy standing in for their Service.
type Lab struct {
	cfg     Config
	dir     string
	ownDir  bool // Dir was made by Start: Close removes it
	bin     string
	ns      string
	secret  string // FLEET_SECRET
	kubecfg string
	rest    *rest.Config
	client  kubernetes.Interface
	runner  *runner
	apiLog  *os.File
	devices []*Device
	proxy   *proxy

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the lab's goroutines: endpoints, proxy, waits
	pokeCh chan struct{}  // wakes the endpoint controller

	mu        sync.Mutex // guards instances, closed, pollWait
	instances []*Instance
	closed    bool
	pollWait  []chan struct{} // closed after the next whole poll

	closeOnce sync.Once
}

// Start starts a lab and waits until every instance is ready (see
// Config.StartTimeout). On error, what it started is stopped.
func Start(ctx context.Context, cfg Config) (l *Lab, err error) {
	cfg = cfg.withDefaults()
	if cfg.DeviceSource != SourceKubernetes && cfg.DeviceSource != SourceStatic {
		return nil, fmt.Errorf("lab: DeviceSource %q (want kubernetes or static)", cfg.DeviceSource)
	}
	if ip := net.ParseIP(cfg.EndpointIP); ip == nil || ip.To4() == nil || ip.IsLoopback() {
		return nil, fmt.Errorf("lab: EndpointIP %q: want an IPv4 address of this machine that is not loopback (the API server refuses loopback endpoints)", cfg.EndpointIP)
	}
	l = &Lab{cfg: cfg, ns: cfg.Namespace, secret: randomHex(32), pokeCh: make(chan struct{}, 1)}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	started := l // a failed start returns a nil Lab: close this one
	defer func() {
		if err != nil {
			started.Close()
			l = nil
		}
	}()
	if l.dir = cfg.Dir; l.dir == "" {
		if l.dir, err = os.MkdirTemp("", "fleetlab-"); err != nil {
			return nil, err
		}
		l.ownDir = true
	}
	if l.dir, err = filepath.Abs(l.dir); err != nil {
		return nil, err
	}
	if err = os.MkdirAll(l.dir, 0o700); err != nil {
		return nil, err
	}

	// The program first: a build error is the likeliest failure.
	if l.bin = cfg.Binary; l.bin == "" {
		l.logf("lab: building media-service in %s", cfg.Repo)
		if l.bin, err = Build(ctx, cfg.Repo, filepath.Join(l.dir, "bin")); err != nil {
			return nil, err
		}
	}

	l.logf("lab: starting etcd and kube-apiserver (log: %s)", filepath.Join(l.dir, "apiserver.log"))
	if l.apiLog, err = os.Create(filepath.Join(l.dir, "apiserver.log")); err != nil {
		return nil, err
	}
	l.runner = newRunner(l.ctx, "fleetlab", filepath.Join(l.dir, "apiserver"), l.apiLog)
	if err = l.startAPIServer(); err != nil {
		return nil, err
	}
	if l.client, err = kubernetes.NewForConfig(l.rest); err != nil {
		return nil, err
	}
	l.kubecfg = filepath.Join(l.dir, "kubeconfig")
	if err = writeKubeconfig(l.rest, l.kubecfg, l.ns); err != nil {
		return nil, err
	}
	if err = checkKubeconfig(l.kubecfg); err != nil {
		return nil, err
	}
	if _, err = l.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: l.ns}}, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("lab: namespace: %w", err)
	}
	if err = l.createService(ctx); err != nil {
		return nil, fmt.Errorf("lab: service: %w", err)
	}

	simLog := slog.New(slog.DiscardHandler)
	if cfg.Output != nil {
		simLog = slog.New(slog.NewTextHandler(&prefixWriter{w: cfg.Output, prefix: "[devicesim] "}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	for i := 1; i <= cfg.Devices; i++ {
		d, err := startDevice("phone-"+strconv.Itoa(i), l.cfg.DeviceFPS, simLog)
		if err != nil {
			return nil, err
		}
		l.devices = append(l.devices, d)
		d.Node = l.nodeOf(i)
		if err := createDevicePod(ctx, l.client, l.ns, d); err != nil {
			return nil, err
		}
	}

	if cfg.BeforeInstances != nil {
		if err = cfg.BeforeInstances(ctx, l); err != nil {
			return nil, fmt.Errorf("lab: before the instances: %w", err)
		}
	}
	if cfg.InstanceKubeconfig != "" {
		if err = checkKubeconfig(cfg.InstanceKubeconfig); err != nil {
			return nil, fmt.Errorf("lab: the instances' kubeconfig: %w", err)
		}
	}

	if l.proxy, err = newProxy(l); err != nil {
		return nil, err
	}
	l.wg.Go(l.proxy.serve)
	l.wg.Go(func() { l.endpoints(l.ctx) })

	for range cfg.Instances {
		if _, err = l.addInstance(ctx); err != nil {
			return nil, err
		}
	}
	if cfg.StartTimeout > 0 {
		wctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
		defer cancel()
		for _, in := range l.Instances() {
			if err = l.WaitReady(wctx, in); err != nil {
				return nil, err
			}
		}
	}
	l.logf("lab: %d instances, %d devices; proxy %s", cfg.Instances, cfg.Devices, l.ProxyURL())
	return l, nil
}

func (l *Lab) startAPIServer() (err error) {
	defer catch(&err)
	l.rest = startAPIServer(l.runner, l.cfg.APIServerFlags)
	return nil
}

// Build builds cmd/media-service of the repository at repo into outDir,
// with the cached FFmpeg (third_party/with-ffmpeg.sh), and returns the
// program's path. FLEETLAB_RACE=1 builds it with the race detector.
func Build(ctx context.Context, repo, outDir string) (string, error) {
	repo, err := filepath.Abs(repo)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", err
	}
	outDir, err = filepath.Abs(outDir)
	if err != nil {
		return "", err
	}
	args := []string{"go", "build"}
	if os.Getenv("FLEETLAB_RACE") != "" {
		// The instances with the race detector: slower, for a run that
		// looks for data races in the fleet's paths.
		args = append(args, "-race")
	}
	args = append(args, "-o", outDir+string(filepath.Separator), "./cmd/media-service")
	cmd := exec.CommandContext(ctx, filepath.Join(repo, "third_party", "with-ffmpeg.sh"), args...)
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("lab: building media-service: %w\n%s", err, out)
	}
	return filepath.Join(outDir, "media-service"), nil
}

// nodeOf is the node of the i-th instance or device (from 1), "" without
// nodes (Config.Nodes).
func (l *Lab) nodeOf(i int) string {
	if l.cfg.Nodes <= 0 {
		return ""
	}
	return "node-" + strconv.Itoa((i-1)%l.cfg.Nodes+1)
}

// AddInstance starts one more instance (media-N+1) and returns it without
// waiting for it to be ready (WaitReady does).
func (l *Lab) AddInstance(ctx context.Context) (*Instance, error) {
	return l.addInstance(ctx)
}

func (l *Lab) addInstance(ctx context.Context) (*Instance, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, errors.New("lab: closed")
	}
	index := len(l.instances) + 1
	l.mu.Unlock()
	name := "media-" + strconv.Itoa(index)
	dir, err := instanceDir(l.dir, name)
	if err != nil {
		return nil, err
	}
	in := &Instance{lab: l, name: name, index: index, node: l.nodeOf(index), dir: dir, log: filepath.Join(l.dir, name+".log")}
	if in.port, err = freeTCPPort(); err != nil {
		return nil, err
	}
	if in.udp, err = freeUDPPort(); err != nil {
		return nil, err
	}
	if in.adb, err = startADB(ctx, dir); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	l.mu.Lock()
	l.instances = append(l.instances, in)
	l.mu.Unlock()
	// The instance's pod, as a StatefulSet would make it: the target of
	// its endpoint.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": InstanceApp}},
		Spec: corev1.PodSpec{NodeName: in.node, Containers: []corev1.Container{{
			Name: "media-service", Image: "media-service",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(in.port), Protocol: corev1.ProtocolTCP}},
		}}},
	}
	if err := createRunningPod(ctx, l.client, l.ns, pod); err != nil {
		return nil, err
	}
	if err := in.Start(); err != nil {
		return nil, err
	}
	l.logf("lab: started %s on %s (pid %d, adb server %s, log %s)", name, in.URL(), in.PID(), in.ADBServer(), in.log)
	return in, nil
}

// instanceEnv is the service's configuration for one instance.
func (l *Lab) instanceEnv(in *Instance) []string {
	c := l.cfg
	env := []string{
		"PORT=" + strconv.Itoa(in.port),
		"ICE_UDP_MUX_PORT=" + strconv.Itoa(in.udp),
		"ADB_SERVER=" + in.adb.Addr(),
		"API_TOKENS=" + c.TokenName + "=" + c.Token,
		"DEVICE_SOURCE=" + c.DeviceSource,
		"KUBECONFIG=" + l.instanceKubeconfig(),
		"FLEET_NAMESPACE=" + l.ns,
		"DEVICE_SELECTOR=" + DeviceSelector,
		"POD_NAME=" + in.name,
		"FLEET_SERVICE=" + ServiceName,
		"LEASE_DURATION=" + c.LeaseDuration.String(),
		"FLEET_SECRET=" + l.secret,
		"DRAIN_TIMEOUT=" + c.DrainTimeout.String(),
		"LOG_FORMAT=text",
		"LOG_LEVEL=" + c.LogLevel,
	}
	if c.DeviceSource == SourceStatic {
		addrs := make([]string, len(l.devices))
		for i, d := range l.devices {
			addrs[i] = d.Addr()
		}
		env = append(env, "ADB_DEVICES="+strings.Join(addrs, ","))
	}
	return append(env, c.Env...)
}

// WaitReady waits until the instance's GET /ready answers 200 and its
// EndpointSlice says so (the lab's poll has written it).
func (l *Lab) WaitReady(ctx context.Context, in *Instance) error {
	for !in.Ready() {
		select {
		case <-in.Exited():
			return fmt.Errorf("lab: %s exited before it was ready (%v); its log:\n%s", in.name, in.ExitState(), tail(in.Logs(), 40))
		case <-ctx.Done():
			return fmt.Errorf("lab: %s not ready: %w; its log:\n%s", in.name, ctx.Err(), tail(in.Logs(), 40))
		case <-time.After(50 * time.Millisecond):
		}
	}
	return l.WaitPoll(ctx)
}

// WaitPoll waits until the endpoint controller has finished a whole poll
// that began after the call: the EndpointSlices then reflect every
// instance's state as of the call.
func (l *Lab) WaitPoll(ctx context.Context) error {
	for range 2 { // the poll under way may have begun before the call
		c := make(chan struct{})
		l.mu.Lock()
		l.pollWait = append(l.pollWait, c)
		l.mu.Unlock()
		l.poke()
		select {
		case <-c:
		case <-ctx.Done():
			return ctx.Err()
		case <-l.ctx.Done():
			return errors.New("lab: closed")
		}
	}
	return nil
}

// polled wakes the WaitPoll callers.
func (l *Lab) polled() {
	l.mu.Lock()
	w := l.pollWait
	l.pollWait = nil
	l.mu.Unlock()
	for _, c := range w {
		close(c)
	}
}

// poke makes the endpoint controller poll now.
func (l *Lab) poke() {
	select {
	case l.pokeCh <- struct{}{}:
	default:
	}
}

func (l *Lab) closing() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Close stops everything: the instances (SIGTERM, then SIGKILL after the
// drain timeout and 15 s more), their adb servers, the proxy, the endpoint
// controller, the devices and the API server; it removes the lab's folder
// when Start made it. It is idempotent.
func (l *Lab) Close() error {
	var errs []error
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		instances := slices.Clone(l.instances)
		l.mu.Unlock()
		var wg sync.WaitGroup
		var errMu sync.Mutex
		for _, in := range instances {
			wg.Go(func() {
				if err := in.Term(0); err != nil {
					errMu.Lock()
					errs = append(errs, err)
					errMu.Unlock()
				}
				in.adb.stop()
			})
		}
		wg.Wait()
		if l.proxy != nil {
			l.proxy.close()
		}
		l.cancel()
		l.wg.Wait()
		for _, d := range l.devices {
			_ = d.Sim.Close()
		}
		if l.runner != nil {
			l.runner.cleanup()
		}
		if l.apiLog != nil {
			l.apiLog.Close()
		}
		if l.ownDir {
			_ = os.RemoveAll(l.dir)
		}
	})
	return errors.Join(errs...)
}

// Dir returns the lab's folder.
func (l *Lab) Dir() string { return l.dir }

// Binary returns the media-service program the instances run.
func (l *Lab) Binary() string { return l.bin }

// Namespace returns the lab's namespace.
func (l *Lab) Namespace() string { return l.ns }

// Kubeconfig returns the path of the lab's own kubeconfig file, the one
// the instances use unless Config.InstanceKubeconfig names another.
func (l *Lab) Kubeconfig() string { return l.kubecfg }

// instanceKubeconfig is the instances' KUBECONFIG.
func (l *Lab) instanceKubeconfig() string {
	if l.cfg.InstanceKubeconfig != "" {
		return l.cfg.InstanceKubeconfig
	}
	return l.kubecfg
}

// WriteTokenKubeconfig writes a kubeconfig file for the lab's API server
// that authenticates with a bearer token (a ServiceAccount's, say) in
// place of the lab's own credentials.
func (l *Lab) WriteTokenKubeconfig(file, token string) error {
	cfg := rest.AnonymousClientConfig(l.rest)
	cfg.BearerToken = token
	return writeKubeconfig(cfg, file, l.ns)
}

// RESTConfig returns a copy of the API server's client configuration.
func (l *Lab) RESTConfig() *rest.Config { return rest.CopyConfig(l.rest) }

// Client returns a client of the API server.
func (l *Lab) Client() kubernetes.Interface { return l.client }

// Token returns the bearer token every instance accepts.
func (l *Lab) Token() string { return l.cfg.Token }

// FleetSecret returns the instances' FLEET_SECRET.
func (l *Lab) FleetSecret() string { return l.secret }

// ProxyURL returns the base URL of the proxy in front of the instances
// (http://127.0.0.1:PORT).
func (l *Lab) ProxyURL() string { return l.proxy.url() }

// Instances returns every instance, started or stopped, in order.
func (l *Lab) Instances() []*Instance {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.instances)
}

// Instance returns media-N (1-based), or nil.
func (l *Lab) Instance(n int) *Instance {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n < 1 || n > len(l.instances) {
		return nil
	}
	return l.instances[n-1]
}

// InstanceNamed returns the instance of that name (media-N), or nil.
func (l *Lab) InstanceNamed(name string) *Instance {
	for _, in := range l.Instances() {
		if in.name == name {
			return in
		}
	}
	return nil
}

// Devices returns the simulated devices, in order (phone-1...).
func (l *Lab) Devices() []*Device { return slices.Clone(l.devices) }

// Device returns the device of that ID (phone-N), or nil.
func (l *Lab) Device(id string) *Device {
	for _, d := range l.devices {
		if d.ID == id {
			return d
		}
	}
	return nil
}

// DeviceIDs returns the devices' IDs as the instances name them: the pod
// names, or with SourceStatic the adb addresses.
func (l *Lab) DeviceIDs() []string {
	ids := make([]string, len(l.devices))
	for i, d := range l.devices {
		ids[i] = d.ID
		if l.cfg.DeviceSource == SourceStatic {
			ids[i] = d.Addr()
		}
	}
	return ids
}

// EnvLines returns the lab's description as NAME=VALUE lines: PROXY,
// INSTANCES, DEVICES, TOKEN, PID_N of each instance (empty when it does
// not run), KUBECONFIG, NAMESPACE, DIR.
func (l *Lab) EnvLines() []string {
	instances := l.Instances()
	urls := make([]string, len(instances))
	for i, in := range instances {
		urls[i] = in.URL()
	}
	lines := []string{
		"PROXY=" + l.ProxyURL(),
		"INSTANCES=" + strings.Join(urls, ","),
		"DEVICES=" + strings.Join(l.DeviceIDs(), ","),
		"TOKEN=" + l.Token(),
	}
	for _, in := range instances {
		pid := ""
		if p := in.PID(); p != 0 {
			pid = strconv.Itoa(p)
		}
		lines = append(lines, fmt.Sprintf("PID_%d=%s", in.index, pid))
	}
	return append(lines, "KUBECONFIG="+l.kubecfg, "NAMESPACE="+l.ns, "DIR="+l.dir)
}

// WriteEnv writes EnvLines to file (make fleet's .fleet/env), creating its
// folder.
func (l *Lab) WriteEnv(file string) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	return os.WriteFile(file, []byte(strings.Join(l.EnvLines(), "\n")+"\n"), 0o600)
}

// logf writes a lab message to Config.Output, if set.
func (l *Lab) logf(format string, args ...any) {
	if l.cfg.Output != nil {
		fmt.Fprintf(l.cfg.Output, format+"\n", args...)
	}
}

// hostIP returns the first IPv4 address of an interface that is up and
// not loopback, or "".
func hostIP() string {
	ifaces, err := net.Interfaces()
	if err != nil {
		return ""
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
				return n.IP.String()
			}
		}
	}
	return ""
}

// EndpointIP returns the instances' address in their EndpointSlices.
func (l *Lab) EndpointIP() string { return l.cfg.EndpointIP }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
