package cri

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Supervision timings. A containerd that stays up for stableAfter is considered healthy again,
// so the next crash restarts it after minBackoff rather than the last, longer delay.
const (
	minBackoff  = 500 * time.Millisecond
	maxBackoff  = 30 * time.Second
	stableAfter = time.Minute
	stopTimeout = 10 * time.Second
)

// maxLogSize bounds containerd.log: a larger one is moved to containerd.log.1 when containerd
// (re)starts. containerd logs every CRI call at info level, and nothing else rotates the file.
const maxLogSize = 16 << 20

// Containerd is a containerd child process under supervision.
type Containerd struct {
	cfg  ContainerdConfig
	log  *slog.Logger
	stop chan struct{}
	once sync.Once
	done chan struct{} // closed when the supervisor has returned

	mu       sync.Mutex
	proc     *process // nil between a crash and the restart
	restarts int
}

// process is one run of containerd.
type process struct {
	cmd     *exec.Cmd
	started time.Time
	exited  chan struct{} // closed once err is set
	err     error
}

// StartContainerd writes cfg.Dir/config.toml, stops a containerd an earlier run left on the
// same directory, starts containerd and returns once it answers CRI Version. ctx bounds the
// start only; the process runs, and is restarted when it dies, until Stop.
//
// containerd runs in its own process group: a ^C in the agent's terminal reaches the agent
// alone, which then calls Stop and lets containerd finish what it was doing. If the agent is
// killed outright, containerd outlives it; the next StartContainerd finds it by its pid file.
func StartContainerd(ctx context.Context, cfg ContainerdConfig) (*Containerd, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o711); err != nil {
		return nil, fmt.Errorf("containerd dir: %w", err)
	}
	if err := os.MkdirAll(cfg.CNIConfDir, 0o755); err != nil {
		return nil, fmt.Errorf("cni conf dir: %w", err)
	}
	if err := cfg.writeConfig(); err != nil {
		return nil, err
	}
	if err := stopStale(cfg.pidPath(), cfg.configPath(), cfg.Logger); err != nil {
		return nil, err
	}
	c := &Containerd{cfg: cfg, log: cfg.Logger, stop: make(chan struct{}), done: make(chan struct{})}
	p, err := c.spawn()
	if err != nil {
		return nil, err
	}
	began := time.Now()
	if err := waitVersion(ctx, c.Endpoint(), p.exited); err != nil {
		select {
		case <-p.exited:
			err = fmt.Errorf("%w: containerd %v", err, p.err)
		default:
		}
		terminate(p)
		removePID(cfg.pidPath(), p.cmd.Process.Pid)
		return nil, fmt.Errorf("start containerd (see %s): %w", cfg.logPath(), err)
	}
	c.log.Info("containerd ready", "pid", p.cmd.Process.Pid, "endpoint", c.Endpoint(), "took", time.Since(began).Round(time.Millisecond))
	c.proc = p
	go c.supervise(p)
	return c, nil
}

// Endpoint is the CRI endpoint, as unix:///path/to/containerd.sock.
func (c *Containerd) Endpoint() string { return "unix://" + c.cfg.socketPath() }

// Restarts counts the times the supervisor restarted containerd after it died.
func (c *Containerd) Restarts() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.restarts
}

// PID is the process id of the running containerd, or 0 while it is down; for diagnostics
// and memory accounting.
func (c *Containerd) PID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return 0
	}
	return c.proc.cmd.Process.Pid
}

// Stop ends supervision and stops containerd (SIGTERM, SIGKILL after 10s). Containers keep
// running under their shims, as when a kubelet's runtime is restarted; the next
// StartContainerd over the same Dir picks them up. Stop may be called more than once.
func (c *Containerd) Stop() {
	c.once.Do(func() { close(c.stop) })
	<-c.done
}

// supervise waits for p to exit and restarts containerd with exponential backoff until Stop.
func (c *Containerd) supervise(p *process) {
	defer close(c.done)
	backoff := minBackoff
	for {
		if p != nil {
			select {
			case <-c.stop:
				terminate(p)
				removePID(c.cfg.pidPath(), p.cmd.Process.Pid)
				c.log.Info("containerd stopped", "pid", p.cmd.Process.Pid)
				c.setProc(nil, false)
				return
			case <-p.exited:
			}
			if time.Since(p.started) > stableAfter {
				backoff = minBackoff
			}
			c.log.Error("containerd exited; restarting", "pid", p.cmd.Process.Pid, "err", p.err, "in", backoff, "log", c.cfg.logPath())
			c.setProc(nil, false)
		}
		select {
		case <-c.stop:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
		var err error
		if p, err = c.spawn(); err != nil {
			c.log.Error("restart containerd", "err", err)
			continue
		}
		c.setProc(p, true)
		c.log.Info("containerd restarted", "pid", p.cmd.Process.Pid)
	}
}

func (c *Containerd) setProc(p *process, restarted bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.proc = p
	if restarted {
		c.restarts++
	}
}

// spawn starts containerd with its output appended to containerd.log and records its pid.
func (c *Containerd) spawn() (*process, error) {
	if fi, err := os.Stat(c.cfg.logPath()); err == nil && fi.Size() > maxLogSize {
		if err := os.Rename(c.cfg.logPath(), c.cfg.logPath()+".1"); err != nil {
			c.log.Warn("rotate containerd log", "err", err)
		}
	}
	logFile, err := os.OpenFile(c.cfg.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("containerd log: %w", err)
	}
	defer logFile.Close() // the child has its own copy
	cmd := exec.Command(c.cfg.Bin, "--config", c.cfg.configPath())
	// An *os.File is handed to the child as is, with no copying goroutine in the agent, so
	// containerd can keep logging when the agent is gone.
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Its own process group keeps terminal signals meant for the agent away from containerd.
	// No Pdeathsig: containerd must survive an agent crash rather than die mid-operation.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", c.cfg.Bin, err)
	}
	p := &process{cmd: cmd, started: time.Now(), exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	if err := writePID(c.cfg.pidPath(), cmd.Process.Pid); err != nil {
		terminate(p)
		return nil, err
	}
	return p, nil
}

// terminate stops p gracefully, then by force, and waits until it has exited.
func terminate(p *process) {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		_ = p.cmd.Process.Kill()
	}
	select {
	case <-p.exited:
		return
	case <-time.After(stopTimeout):
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}
