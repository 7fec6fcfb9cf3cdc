package lab

import (
	"fmt"
	"os"
	"path"

	"github.com/google/uuid"
	"k8s.io/apiserver/pkg/storage/etcd3/testserver"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	kubeapiservertesting "k8s.io/kubernetes/cmd/kube-apiserver/app/testing"
	"k8s.io/kubernetes/test/utils/ktesting"
)

// startAPIServer starts an embedded etcd and a real kube-apiserver on
// loopback ports, as the fleet's tests do, with extra flags after the
// lab's (Config.APIServerFlags); r's cleanups stop them. A failure is r's
// fatal panic.
func startAPIServer(r *runner, extraFlags []string) *rest.Config {
	etcdCfg := testserver.NewTestConfig(r)
	testserver.RunEtcd(r, etcdCfg)
	storage := storagebackend.NewDefaultConfig(path.Join(uuid.New().String(), "registry"), nil)
	storage.Transport.ServerList = []string{etcdCfg.ListenClientUrls[0].String()}
	// A TContext of the lab's own context: ktesting.Init, which
	// StartTestServer calls otherwise, would stop the API server on the
	// first SIGINT, before the lab has stopped the instances that use it.
	tCtx := ktesting.InitCtx(r.ctx, r)
	flags := append([]string{
		"--endpoint-reconciler-type=none",            // no kube-apiserver Endpoints on 127.0.0.1
		"--disable-admission-plugins=ServiceAccount", // no service account controller runs
	}, extraFlags...)
	srv, err := kubeapiservertesting.StartTestServer(tCtx, nil, flags, storage)
	if err != nil {
		r.Fatalf("kube-apiserver: %v", err)
	}
	r.Cleanup(srv.TearDownFn)
	cfg := rest.CopyConfig(srv.ClientConfig)
	cfg.QPS, cfg.Burst = 500, 1000 // the lab's own pace, not a controller's
	return cfg
}

// writeKubeconfig writes a kubeconfig file for cfg: its server, CA (or
// insecure), TLS server name, and bearer token or client certificate.
func writeKubeconfig(cfg *rest.Config, file, namespace string) error {
	ca := cfg.CAData
	if len(ca) == 0 && cfg.CAFile != "" {
		b, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return fmt.Errorf("kubeconfig: %w", err)
		}
		ca = b
	}
	auth := &clientcmdapi.AuthInfo{
		Token:                 cfg.BearerToken,
		TokenFile:             cfg.BearerTokenFile,
		ClientCertificateData: cfg.CertData,
		ClientCertificate:     cfg.CertFile,
		ClientKeyData:         cfg.KeyData,
		ClientKey:             cfg.KeyFile,
		Username:              cfg.Username,
		Password:              cfg.Password,
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["lab"] = &clientcmdapi.Cluster{
		Server:                   cfg.Host,
		CertificateAuthorityData: ca,
		InsecureSkipTLSVerify:    cfg.Insecure,
		TLSServerName:            cfg.ServerName,
	}
	kc.AuthInfos["lab"] = auth
	kc.Contexts["lab"] = &clientcmdapi.Context{Cluster: "lab", AuthInfo: "lab", Namespace: namespace}
	kc.CurrentContext = "lab"
	if err := clientcmd.WriteToFile(*kc, file); err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	return os.Chmod(file, 0o600)
}

// checkKubeconfig loads the file back and asks the server its version, so
// that an instance never starts with a kubeconfig that cannot work.
func checkKubeconfig(file string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", file)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", file, err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", file, err)
	}
	if _, err := client.Discovery().ServerVersion(); err != nil {
		return fmt.Errorf("kubeconfig %s: the API server does not answer: %w", file, err)
	}
	return nil
}
