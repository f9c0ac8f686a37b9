package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// readyPollInterval is how often a starting server's /readyz is asked.
const readyPollInterval = 5 * time.Millisecond

// serverProcess is `gantry server` running as a child process.
type serverProcess struct {
	cmd        *exec.Cmd
	url        string // the API's address, https://127.0.0.1:<port>
	kubeconfig string
	logPath    string
	started    time.Time
	exited     chan struct{}
	err        error // what cmd.Wait returned; read only after exited is closed
}

// hasFlag reports whether args set flag, as "--flag value" or "--flag=value".
func hasFlag(args []string, flag string) bool {
	for _, a := range args {
		if a == flag || strings.HasPrefix(a, flag+"=") {
			return true
		}
	}
	return false
}

// startServer runs `<exe> server` on dataDir and port, bound to loopback, with extra flags
// and its output appended to <dataDir>/bench-server.log.
func startServer(exe string, env []string, dataDir string, port int, extra ...string) (*serverProcess, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dataDir, "bench-server.log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	args := append([]string{"server", "--data-dir", dataDir, "--https-port", strconv.Itoa(port), "--bind-address", "127.0.0.1"}, extra...)
	// A benchmark server must not compete for the default registry port with a server
	// already running on the machine, unless the caller picked the port.
	if !hasFlag(extra, "--registry-port") {
		args = append(args, "--registry-port", "0")
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	p := &serverProcess{
		cmd:        cmd,
		url:        "https://127.0.0.1:" + strconv.Itoa(port),
		kubeconfig: filepath.Join(dataDir, "admin.kubeconfig"),
		logPath:    logPath,
		exited:     make(chan struct{}),
	}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s server: %w", exe, err)
	}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

func (p *serverProcess) pid() int { return p.cmd.Process.Pid }

// waitReady polls /readyz every readyPollInterval until it answers ok, and returns the time
// from the process start to that answer and the admin client configuration. The admin
// kubeconfig is read once it names this server's address (an earlier server on the same
// data directory may have left one for another port).
func (p *serverProcess) waitReady(ctx context.Context, timeout time.Duration) (time.Duration, *rest.Config, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(readyPollInterval)
	defer tick.Stop()
	var (
		config *rest.Config
		client rest.Interface
		last   error
	)
	for {
		if config == nil {
			if c, err := clientcmd.BuildConfigFromFlags("", p.kubeconfig); err != nil {
				last = err
			} else if c.Host != p.url {
				last = fmt.Errorf("%s is for %s, not %s", p.kubeconfig, c.Host, p.url)
			} else {
				cs, err := kubernetes.NewForConfig(c)
				if err != nil {
					return 0, nil, err
				}
				config, client = c, cs.Discovery().RESTClient()
			}
		}
		if client != nil {
			rctx, rcancel := context.WithTimeout(ctx, time.Second)
			body, err := client.Get().AbsPath("/readyz").DoRaw(rctx)
			rcancel()
			if err == nil && string(body) == "ok" {
				return time.Since(p.started), config, nil
			}
			last = err
		}
		select {
		case <-tick.C:
		case <-p.exited:
			return 0, nil, fmt.Errorf("gantry server exited before it was ready (%v); see %s", p.err, p.logPath)
		case <-ctx.Done():
			return 0, nil, fmt.Errorf("gantry server not ready after %v (last: %v); see %s", timeout, last, p.logPath)
		}
	}
}

// memory reports the server's resident set size and its peak so far.
func (p *serverProcess) memory() (rss, peak int64, err error) {
	return processMemory(p.pid())
}

// terminate sends SIGTERM and waits up to timeout for the process to end. It returns how
// long the process took to exit, and an error if it did not exit with status 0; a process
// that outlives timeout is killed.
func (p *serverProcess) terminate(timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return 0, err
	}
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.kill()
		return 0, fmt.Errorf("gantry server still running %v after SIGTERM; killed it", timeout)
	}
	took := time.Since(start)
	if p.err != nil {
		return took, fmt.Errorf("gantry server exited after SIGTERM with %v; see %s", p.err, p.logPath)
	}
	return took, nil
}

// kill ends the process, if it still runs, and waits for it.
func (p *serverProcess) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Kill()
	<-p.exited
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
