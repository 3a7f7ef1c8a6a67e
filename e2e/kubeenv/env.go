package kubeenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"banger/internal/poll"
)

// readyTimeout bounds the wait for the API server's /readyz (measured: 2 s).
const readyTimeout = 2 * time.Minute

// Env is a running control plane. Its admin user (a bearer token in
// system:masters) is what Kubeconfig and RESTConfig authenticate as.
type Env struct {
	Kubeconfig string // a kubeconfig file for the admin user
	Server     string // https://127.0.0.1:PORT
	Token      string // the admin user's bearer token
	CAFile     string // the API server's self-signed serving certificate

	netns  string  // where the components run; "" for the current namespace
	procs  []*proc // in start order: etcd, kube-apiserver, kube-scheduler
	spawn  *spawner
	client kubernetes.Interface
}

// Start runs etcd, kube-apiserver and kube-scheduler from binDir on free
// ports of 127.0.0.1, in the network namespace netns (the current one when
// empty), with their data, keys and logs in workDir. It returns once
// /readyz answers. On failure nothing is left running and the error holds
// the components' last log lines.
func Start(ctx context.Context, binDir, workDir, netns string) (_ *Env, err error) {
	ports, err := freePorts(netns, 3)
	if err != nil {
		return nil, err
	}
	etcdPort, peerPort, apiPort := ports[0], ports[1], ports[2]
	e := &Env{
		Kubeconfig: filepath.Join(workDir, "kubeconfig"),
		Server:     fmt.Sprintf("https://127.0.0.1:%d", apiPort),
		CAFile:     filepath.Join(workDir, "pki", "apiserver.crt"),
		netns:      netns,
		spawn:      newSpawner(),
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, e.Logs())
			e.Stop()
		}
	}()
	if err = os.MkdirAll(workDir, 0o700); err != nil {
		return nil, fmt.Errorf("control plane dir: %w", err)
	}
	if e.Token, err = writeAuth(workDir); err != nil {
		return nil, err
	}
	if err := e.start(binDir, workDir, netns, "etcd", etcdArgs(workDir, etcdPort, peerPort)); err != nil {
		return nil, err
	}
	if err := e.start(binDir, workDir, netns, "kube-apiserver", apiserverArgs(workDir, etcdPort, apiPort)); err != nil {
		return nil, err
	}
	if err := e.waitReady(ctx); err != nil {
		return nil, err
	}
	if err := e.writeKubeconfig(); err != nil {
		return nil, err
	}
	if e.client, err = kubernetes.NewForConfig(e.RESTConfig()); err != nil {
		return nil, fmt.Errorf("client for %s: %w", e.Server, err)
	}
	args := []string{"--kubeconfig=" + e.Kubeconfig, "--leader-elect=false", "--secure-port=0"}
	if err := e.start(binDir, workDir, netns, "kube-scheduler", args); err != nil {
		return nil, err
	}
	return e, nil
}

// start runs one component and adds it to e.procs.
func (e *Env) start(binDir, workDir, netns, name string, args []string) error {
	p, err := startProc(e.spawn, binDir, workDir, netns, name, args)
	if err != nil {
		return err
	}
	e.procs = append(e.procs, p)
	return nil
}

// etcdArgs configures a one-member etcd on loopback. It does not fsync:
// its data lives as long as the test.
func etcdArgs(workDir string, port, peer int) []string {
	client := fmt.Sprintf("http://127.0.0.1:%d", port)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	return []string{
		"--name=kubeenv",
		"--data-dir=" + filepath.Join(workDir, "etcd"),
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=kubeenv=" + peerURL,
		"--unsafe-no-fsync",
	}
}

// apiserverArgs configures the API server: loopback only, token
// authentication, RBAC, a self-signed serving certificate in workDir/pki,
// and the default admission plugins (none of them needs
// kube-controller-manager, though ServiceAccount needs each namespace's
// default ServiceAccount: see EnsureNamespace). No endpoint reconciler:
// the kubernetes Service cannot point at a loopback address.
func apiserverArgs(workDir string, etcdPort, port int) []string {
	return []string{
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", etcdPort),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--cert-dir=" + filepath.Join(workDir, "pki"),
		"--token-auth-file=" + filepath.Join(workDir, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + filepath.Join(workDir, "sa.pub"),
		"--service-account-signing-key-file=" + filepath.Join(workDir, "sa.key"),
		"--service-cluster-ip-range=10.96.0.0/24",
		"--endpoint-reconciler-type=none",
		"--profiling=false",
	}
}

// writeAuth makes the admin token (in tokens.csv) and the service-account
// signing key pair (sa.key, sa.pub) in workDir, and returns the token.
func writeAuth(workDir string) (string, error) {
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("make token: %w", err)
	}
	token := hex.EncodeToString(buf)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("make service-account key: %w", err)
	}
	priv, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("encode service-account key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", fmt.Errorf("encode service-account key: %w", err)
	}
	files := []struct {
		name string
		data []byte
	}{
		{"tokens.csv", []byte(token + ",admin,admin,system:masters\n")},
		{"sa.key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: priv})},
		{"sa.pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(workDir, f.name), f.data, 0o600); err != nil {
			return "", fmt.Errorf("write %s: %w", f.name, err)
		}
	}
	return token, nil
}

// waitReady waits until /readyz answers ok, a component exits or the
// deadline passes.
func (e *Env) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var last error
	err := poll.Until(ctx, 200*time.Millisecond, nil, func(ctx context.Context) (bool, error) {
		for _, p := range e.procs {
			if err := p.exited(); err != nil {
				return false, err
			}
		}
		if _, err := os.Stat(e.CAFile); err != nil {
			last = err
			return false, nil
		}
		c, err := kubernetes.NewForConfig(e.RESTConfig())
		if err != nil {
			return false, fmt.Errorf("client for %s: %w", e.Server, err)
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, last = c.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(rctx)
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("wait for %s/readyz: %w (last: %v)", e.Server, err, last)
	}
	return nil
}

// writeKubeconfig writes e.Kubeconfig for the admin user.
func (e *Env) writeKubeconfig() error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubeenv"] = &clientcmdapi.Cluster{Server: e.Server, CertificateAuthority: e.CAFile}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: e.Token}
	cfg.Contexts["kubeenv"] = &clientcmdapi.Context{Cluster: "kubeenv", AuthInfo: "admin"}
	cfg.CurrentContext = "kubeenv"
	if err := clientcmd.WriteToFile(*cfg, e.Kubeconfig); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}

// RESTConfig returns a client configuration for the admin user. When the
// control plane runs in a network namespace, its Dial connects from inside
// that namespace, so that a client in this process reaches the API server
// on the namespace's loopback. (Kubeconfig has no such dialer: a process
// that uses it must run in the namespace, e.g. under `ip netns exec`.)
func (e *Env) RESTConfig() *rest.Config {
	return &rest.Config{
		Host:            e.Server,
		BearerToken:     e.Token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: e.CAFile},
		QPS:             100,
		Burst:           200,
		Dial:            dialer(e.netns),
	}
}

// Stop stops the components in reverse order, scheduler, then API server,
// then etcd (another order leaves the API server hanging), each with
// SIGTERM and then SIGKILL after 15 seconds. It returns what went wrong.
// Stopping again does nothing; Logs still works.
func (e *Env) Stop() error {
	var errs []error
	for i := len(e.procs) - 1; i >= 0; i-- {
		errs = append(errs, e.procs[i].stop(15*time.Second))
	}
	if e.spawn != nil {
		e.spawn.close()
		e.spawn = nil
	}
	return errors.Join(errs...)
}

// Logs returns the last lines of each component's log, for a failure.
func (e *Env) Logs() string {
	var b strings.Builder
	for _, p := range e.procs {
		fmt.Fprintf(&b, "--- %s (%s) ---\n%s\n", p.name, p.log, p.tail(4096))
	}
	return b.String()
}
