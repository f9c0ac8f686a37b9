// Package iproute runs iproute2's ip command, for the few places that set links and
// addresses up by hand (the dev cluster's namespaces, uninstall) rather than through netlink.
package iproute

import (
	"fmt"
	"os/exec"
	"strings"
)

// Run runs `ip args…`; a failure carries what ip printed.
func Run(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// LinkExists says whether this process's network namespace has the link. It asks ip rather
// than /sys/class/net, which shows the links of the namespace /sys was mounted in.
func LinkExists(name string) bool {
	return exec.Command("ip", "link", "show", name).Run() == nil
}
