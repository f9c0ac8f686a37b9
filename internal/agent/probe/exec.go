package probe

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	remote "k8s.io/cri-client/pkg"
	"k8s.io/kubernetes/third_party/forked/golang/expansion"
)

// execHandler runs cmd in the container: exit code 0 passes, any other fails with the
// command's output, and so does a command that times out.
func (m *Manager) execHandler(containerID string, cmd []string) handler {
	return func(ctx context.Context, timeout time.Duration) (outcome, string, error) {
		stdout, stderr, code, err := m.exec.ExecSync(ctx, containerID, cmd, timeout)
		if errors.Is(err, remote.ErrCommandTimedOut) || errors.Is(err, context.DeadlineExceeded) {
			return failed, err.Error(), nil
		}
		if err != nil {
			return undecided, "", fmt.Errorf("exec in container %s: %w", containerID, err)
		}
		output := append(stdout, stderr...)
		if len(output) > maxOutput {
			output = output[:maxOutput]
		}
		if code != 0 {
			return failed, string(output), nil
		}
		return passed, string(output), nil
	}
}

// expandCommand replaces $(VAR) in cmd with the values of c's env that are set statically,
// as the kubelet does for exec probes.
func expandCommand(cmd []string, env []corev1.EnvVar) []string {
	vars := map[string]string{}
	for _, e := range env {
		vars[e.Name] = e.Value
	}
	mapping := expansion.MappingFuncFor(vars)
	out := make([]string, len(cmd))
	for i, s := range cmd {
		out[i] = expansion.Expand(s, mapping)
	}
	return out
}
