package cri

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func writePID(path string, pid int) error {
	if err := os.WriteFile(path, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return fmt.Errorf("containerd pid file: %w", err)
	}
	return nil
}

// removePID removes the pid file if it still names pid.
func removePID(path string, pid int) {
	data, err := os.ReadFile(path)
	if err == nil && strings.TrimSpace(string(data)) == strconv.Itoa(pid) {
		_ = os.Remove(path)
	}
}

// stopStale stops the containerd an earlier agent left running over the same config (it was
// killed before it could stop it): a new containerd could not open the same metadata database,
// and the config may have changed. Its containers live on under their shims. The process is
// identified by the pid file and, so that a reused pid is never signalled, by its command line.
func stopStale(pidPath, configPath string, log *slog.Logger) error {
	data, err := os.ReadFile(pidPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("containerd pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		log.Warn("ignoring malformed containerd pid file", "path", pidPath)
		return os.Remove(pidPath)
	}
	if !runsConfig(pid, configPath) {
		return os.Remove(pidPath)
	}
	log.Info("stopping containerd left by an earlier run", "pid", pid)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop earlier containerd %d: %w", pid, err)
	}
	if !waitGone(pid, stopTimeout) {
		log.Warn("earlier containerd ignored SIGTERM; killing it", "pid", pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
		if !waitGone(pid, stopTimeout) {
			return fmt.Errorf("earlier containerd %d does not exit", pid)
		}
	}
	return os.Remove(pidPath)
}

// runsConfig reports whether process pid is alive and was started with --config configPath.
func runsConfig(pid int, configPath string) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !alive(pid) {
		return false
	}
	args := bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0})
	for i := 0; i+1 < len(args); i++ {
		if string(args[i]) == "--config" && string(args[i+1]) == configPath {
			return true
		}
	}
	return false
}

// alive reports whether pid exists and is not a zombie: an orphaned containerd is reaped by
// init, which in some containers never happens.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may contain spaces.
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] != 'Z' && stat[i+2] != 'X'
}

func waitGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for alive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}
