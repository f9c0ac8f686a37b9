// Package uninstall removes everything Gantry made on a machine: its processes, every pod's
// containers, sandbox and network namespace, the agent's nftables table, routes and links,
// the mounts under its data directory, and the data directory itself.
//
// Pod sandboxes are removed through containerd's CRI (started again for the purpose if it is
// not running), so that the CNI plugins release each pod's veth, address and namespace as
// they would for a deleted pod; what is left after that (containers of a broken containerd,
// shims, mounts) is killed and unmounted directly.
package uninstall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/gantryhq/gantry/internal/network/cni"
	"github.com/gantryhq/gantry/internal/network/iproute"
	"github.com/gantryhq/gantry/internal/network/podnet"
	"github.com/gantryhq/gantry/internal/network/proxy"
	"github.com/gantryhq/gantry/internal/runtime/cri"
)

// Options say what to remove.
type Options struct {
	// DataDir is the server's or agent's data directory.
	DataDir string
	// KeepData leaves the data directory (etcd, certificates, images) in place.
	KeepData bool
}

// PIDFile is where a gantry server or agent records its process ID in its data directory.
func PIDFile(dataDir, role string) string { return filepath.Join(dataDir, role+".pid") }

// DNSAddressFile records the cluster DNS address the agent put on lo.
func DNSAddressFile(dataDir string) string { return filepath.Join(dataDir, "agent", "dns-address") }

// WritePID records this process as the data directory's server or agent.
func WritePID(dataDir, role string) error {
	return os.WriteFile(PIDFile(dataDir, role), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
}

// Run removes what Gantry made with opts.DataDir. It goes on past failures and returns them
// all.
func Run(ctx context.Context, opts Options) error {
	dir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return err
	}
	var errs []error
	for _, role := range []string{"agent", "server"} {
		stopRecorded(PIDFile(dir, role), role)
	}
	if err := removeSandboxes(ctx, filepath.Join(dir, "containerd")); err != nil {
		errs = append(errs, fmt.Errorf("remove pod sandboxes: %w", err))
	}
	KillUnder(dir)
	if err := proxy.Remove(proxy.DefaultTable); err != nil {
		errs = append(errs, err)
	}
	if err := podnet.Remove(); err != nil {
		errs = append(errs, err)
	}
	if iproute.LinkExists(cni.DefaultBridge) {
		if err := iproute.Run("link", "delete", cni.DefaultBridge); err != nil {
			errs = append(errs, err)
		}
	}
	if addr, err := os.ReadFile(DNSAddressFile(dir)); err == nil {
		ip := strings.TrimSpace(string(addr))
		if err := iproute.Run("addr", "delete", ip+"/32", "dev", "lo"); err != nil && !strings.Contains(err.Error(), "Cannot assign") {
			errs = append(errs, err)
		}
	}
	if !opts.KeepData {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// stopRecorded stops the gantry process a pid file names, if it still runs as one: SIGTERM,
// then SIGKILL after 30 seconds.
func stopRecorded(pidFile, role string) {
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid == os.Getpid() {
		return
	}
	// A pid file outlives its process; the number may be someone else's by now.
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || !strings.Contains(string(cmdline), "\x00"+role+"\x00") {
		return
	}
	slog.Info("stopping", "role", role, "pid", pid)
	syscall.Kill(pid, syscall.SIGTERM)
	for range 300 {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
}

// removeSandboxes stops and removes every pod sandbox of the containerd in dir, starting it
// from its own configuration for the purpose.
func removeSandboxes(ctx context.Context, dir string) error {
	config := filepath.Join(dir, "config.toml")
	if _, err := os.Stat(config); err != nil {
		return nil
	}
	stopRecorded(filepath.Join(dir, "containerd.pid"), "--config")
	ctrd := exec.Command("containerd", "--config", config)
	log, err := os.OpenFile(filepath.Join(dir, "uninstall.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	ctrd.Stdout, ctrd.Stderr = log, log
	if err := ctrd.Start(); err != nil {
		return fmt.Errorf("start containerd: %w", err)
	}
	defer func() {
		ctrd.Process.Signal(syscall.SIGTERM)
		ctrd.Wait()
	}()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	rt, _, err := cri.Connect(ctx, "unix://"+filepath.Join(dir, "containerd.sock"))
	if err != nil {
		return err
	}
	sandboxes, err := rt.ListPodSandbox(ctx, nil)
	if err != nil {
		return fmt.Errorf("list sandboxes: %w", err)
	}
	var errs []error
	for _, sb := range sandboxes {
		if err := removeSandbox(ctx, rt, sb); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

type sandboxRemover interface {
	StopPodSandbox(ctx context.Context, id string) error
	RemovePodSandbox(ctx context.Context, id string) error
}

func removeSandbox(ctx context.Context, rt sandboxRemover, sb *runtimeapi.PodSandbox) error {
	name := sb.GetMetadata().GetNamespace() + "/" + sb.GetMetadata().GetName()
	if err := rt.StopPodSandbox(ctx, sb.Id); err != nil {
		return fmt.Errorf("stop sandbox of %s: %w", name, err)
	}
	if err := rt.RemovePodSandbox(ctx, sb.Id); err != nil {
		return fmt.Errorf("remove sandbox of %s: %w", name, err)
	}
	return nil
}

// KillUnder kills the processes whose command line names dir (agents, servers, their
// containerd and shims), the containers runc runs for that containerd, and unmounts what is
// mounted under dir.
func KillUnder(dir string) {
	root := filepath.Join(dir, "containerd", "state", "runc", "k8s.io")
	out, _ := exec.Command("runc", "--root", root, "list", "-q").Output()
	for _, id := range strings.Fields(string(out)) {
		exec.Command("runc", "--root", root, "kill", id, "KILL").Run()
		exec.Command("runc", "--root", root, "delete", "--force", id).Run()
	}
	out, _ = exec.Command("pgrep", "-f", dir+"( |/|$)").Output()
	for _, pid := range strings.Fields(string(out)) {
		if n, err := strconv.Atoi(pid); err == nil && n != os.Getpid() {
			syscall.Kill(n, syscall.SIGKILL)
		}
	}
	unmountUnder(dir)
}

// unmountUnder lazily unmounts every mount point under dir, deepest first.
func unmountUnder(dir string) {
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && (f[1] == dir || strings.HasPrefix(f[1], dir+"/")) {
			points = append(points, f[1])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		if err := syscall.Unmount(points[i], syscall.MNT_DETACH); err != nil {
			slog.Debug("unmount", "path", points[i], "err", err)
		}
	}
}
