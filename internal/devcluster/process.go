package devcluster

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// process is a child gantry process and its exit.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// start runs the gantry executable with args, inside netns if it is not empty (only the
// network namespace is entered: the node shares the host's file system, as the agent's
// separate data directory keeps it apart), logging to logPath.
func (c *Cluster) start(netns, logPath string, args []string) (*process, error) {
	name, argv := c.opts.Executable, args
	if netns != "" {
		name, argv = "nsenter", append([]string{"--net=/run/netns/" + netns, "--", c.opts.Executable}, args...)
	}
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, argv...)
	cmd.Env = append(os.Environ(), c.opts.Env...)
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group: a terminal's Ctrl-C reaches the dev cluster command, which
	// stops the children in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", args[0], err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		log.Close()
		close(p.exited)
	}()
	return p, nil
}

func (p *process) done() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// stop signals the process and waits for it, killing it after 30 seconds.
func (p *process) stop(sig syscall.Signal) {
	if p == nil || p.done() {
		return
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}
