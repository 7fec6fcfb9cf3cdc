package fleet

import (
	"path"
	"testing"

	"github.com/google/uuid"
	"k8s.io/apiserver/pkg/storage/etcd3/testserver"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	kubeapiservertesting "k8s.io/kubernetes/cmd/kube-apiserver/app/testing"
)

// startAPIServer starts an embedded etcd and a real kube-apiserver on
// loopback ports for the test, and returns a client of it and its
// configuration. Both stop when the test ends.
func startAPIServer(t *testing.T) (*kubernetes.Clientset, *rest.Config) {
	t.Helper()
	etcdCfg := testserver.NewTestConfig(t)
	testserver.RunEtcd(t, etcdCfg)
	storage := storagebackend.NewDefaultConfig(path.Join(uuid.New().String(), "registry"), nil)
	storage.Transport.ServerList = []string{etcdCfg.ListenClientUrls[0].String()}
	srv := kubeapiservertesting.StartTestServerOrDie(t, nil, []string{
		"--endpoint-reconciler-type=none",            // no kube-apiserver Endpoints on 127.0.0.1
		"--disable-admission-plugins=ServiceAccount", // no service account controller runs
	}, storage)
	t.Cleanup(srv.TearDownFn)
	cfg := rest.CopyConfig(srv.ClientConfig)
	cfg.QPS, cfg.Burst = 500, 1000 // the tests' own pace, not a controller's
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return client, cfg
}
