// Package devcluster builds a multi-node cluster on one machine, for tests and for trying
// Gantry out: a control-plane server on the host and N nodes, each a network namespace
// joined by a veth pair to a bridge, with its own address in 100.66.0.0/24, its own
// `gantry agent` joined with the server's token, and its own containerd (separate data
// directories and sockets). Each node has its own routes, nftables table and pod bridge, so
// the cluster's networking is exercised as it would be across machines.
//
// The layout, with the default subnet:
//
//	host:    bridge gantry-dev, 100.66.0.1/24; gantry server --bind-address 100.66.0.1
//	node-N:  netns gantry-dev-N, eth0 100.66.0.(10+N)/24, default route via 100.66.0.1;
//	         gantry agent --server https://100.66.0.1:PORT --token … --data-dir DIR/node-N
//
// Processes run as children of the caller; their logs go to DIR/server.log and
// DIR/node-N/agent.log. Destroy removes everything, including what a crashed run left.
package devcluster

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gantryhq/gantry/internal/network/iproute"
	"github.com/gantryhq/gantry/internal/uninstall"
)

// Options describe a dev cluster. Zero values take the defaults.
type Options struct {
	// Nodes is the number of agent nodes (default 3).
	Nodes int
	// DataDir holds the server's and every node's data (default /var/lib/gantry-dev).
	DataDir string
	// Subnet holds the nodes' addresses: the host's end of the bridge is its first address,
	// node N is the (10+N)th (default 100.66.0.0/24).
	Subnet netip.Prefix
	// Bridge is the host bridge the nodes hang off (default gantry-dev); node namespaces are
	// named <Bridge>-N.
	Bridge string
	// APIPort and RegistryPort are the server's ports on the bridge address (default 6443
	// and 5000).
	APIPort, RegistryPort int
	// Executable is the gantry binary (default the running executable); Env is added to the
	// environment of every process it runs.
	Executable string
	Env        []string
	// ServerArgs and AgentArgs are added to the server's and the agents' command lines.
	ServerArgs, AgentArgs []string
}

func (o *Options) defaults() error {
	if o.Nodes <= 0 {
		o.Nodes = 3
	}
	if o.DataDir == "" {
		o.DataDir = "/var/lib/gantry-dev"
	}
	if !o.Subnet.IsValid() {
		o.Subnet = netip.MustParsePrefix("100.66.0.0/24")
	}
	if o.Bridge == "" {
		o.Bridge = "gantry-dev"
	}
	if o.APIPort == 0 {
		o.APIPort = 6443
	}
	if o.RegistryPort == 0 {
		o.RegistryPort = 5000
	}
	if o.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		o.Executable = exe
	}
	if !o.Subnet.Addr().Is4() || 10+o.Nodes >= 1<<(32-o.Subnet.Bits())-1 {
		return fmt.Errorf("%d nodes do not fit in %s (an IPv4 subnet with room for 10 + nodes addresses)", o.Nodes, o.Subnet)
	}
	return nil
}

// Cluster is a running dev cluster.
type Cluster struct {
	opts Options
	// Server is the control plane's address on the bridge; Kubeconfig its admin kubeconfig.
	Server     netip.Addr
	Kubeconfig string
	// Token joins nodes.
	Token  string
	server *process
	Nodes  []*Node
}

// Node is one agent node.
type Node struct {
	Name    string
	NetNS   string
	IP      netip.Addr
	DataDir string
	cluster *Cluster
	agent   *process
}

// Start builds the network, starts the server and every node's agent, and returns once the
// server is ready (the nodes register on their own; wait for them through the API).
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, Server: opts.Subnet.Addr().Next()}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, err
	}
	if err := c.bridge(); err != nil {
		return nil, err
	}
	for i := 1; i <= opts.Nodes; i++ {
		n, err := c.addNode(i)
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Nodes = append(c.Nodes, n)
	}
	if err := c.startServer(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	for _, n := range c.Nodes {
		if err := n.Start(); err != nil {
			c.Stop()
			return nil, err
		}
	}
	return c, nil
}

// bridge makes the host's bridge with the subnet's first address.
func (c *Cluster) bridge() error {
	br := c.opts.Bridge
	if !iproute.LinkExists(br) {
		if err := iproute.Run("link", "add", br, "type", "bridge"); err != nil {
			return err
		}
	}
	addr := netip.PrefixFrom(c.Server, c.opts.Subnet.Bits()).String()
	if err := iproute.Run("addr", "replace", addr, "dev", br); err != nil {
		return err
	}
	return iproute.Run("link", "set", br, "up")
}

// addNode makes node i's namespace, wired to the bridge.
func (c *Cluster) addNode(i int) (*Node, error) {
	ip := c.opts.Subnet.Addr()
	for range 10 + i {
		ip = ip.Next()
	}
	n := &Node{
		Name:    "node-" + strconv.Itoa(i),
		NetNS:   c.opts.Bridge + "-" + strconv.Itoa(i),
		IP:      ip,
		DataDir: filepath.Join(c.opts.DataDir, "node-"+strconv.Itoa(i)),
		cluster: c,
	}
	if err := os.MkdirAll(n.DataDir, 0o700); err != nil {
		return nil, err
	}
	if _, err := os.Stat("/run/netns/" + n.NetNS); err != nil {
		if err := iproute.Run("netns", "add", n.NetNS); err != nil {
			return nil, err
		}
	}
	hostEnd := c.opts.Bridge + "v" + strconv.Itoa(i)
	if !iproute.LinkExists(hostEnd) {
		if err := iproute.Run("link", "add", hostEnd, "type", "veth", "peer", "name", "eth0", "netns", n.NetNS); err != nil {
			return nil, err
		}
	}
	steps := [][]string{
		{"link", "set", hostEnd, "master", c.opts.Bridge, "up"},
		{"-n", n.NetNS, "link", "set", "lo", "up"},
		{"-n", n.NetNS, "addr", "replace", netip.PrefixFrom(ip, c.opts.Subnet.Bits()).String(), "dev", "eth0"},
		{"-n", n.NetNS, "link", "set", "eth0", "up"},
		{"-n", n.NetNS, "route", "replace", "default", "via", c.Server.String()},
	}
	for _, s := range steps {
		if err := iproute.Run(s...); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// startServer starts the control plane on the bridge address and waits for its token.
func (c *Cluster) startServer(ctx context.Context) error {
	dir := filepath.Join(c.opts.DataDir, "server")
	args := append([]string{"server", "--data-dir", dir, "--bind-address", c.Server.String(),
		"--https-port", strconv.Itoa(c.opts.APIPort), "--registry-port", strconv.Itoa(c.opts.RegistryPort),
		"--disable-agent"}, c.opts.ServerArgs...)
	p, err := c.start("", filepath.Join(c.opts.DataDir, "server.log"), args)
	if err != nil {
		return err
	}
	c.server = p
	c.Kubeconfig = filepath.Join(dir, "admin.kubeconfig")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		token, err := os.ReadFile(filepath.Join(dir, "token"))
		if _, kerr := os.Stat(c.Kubeconfig); err == nil && kerr == nil && c.ready(ctx) {
			c.Token = strings.TrimSpace(string(token))
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("gantry server exited: %v (see %s)", p.err, filepath.Join(c.opts.DataDir, "server.log"))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("gantry server did not become ready in 2 minutes")
		}
	}
}

// ready says whether the server answers /readyz.
func (c *Cluster) ready(ctx context.Context) bool {
	cmd := exec.CommandContext(ctx, c.opts.Executable, "kubectl", "--kubeconfig", c.Kubeconfig, "get", "--raw", "/readyz")
	cmd.Env = append(os.Environ(), c.opts.Env...)
	out, err := cmd.Output()
	return err == nil && strings.TrimSpace(string(out)) == "ok"
}

// Start starts the node's agent (again).
func (n *Node) Start() error {
	if n.agent != nil && !n.agent.done() {
		return fmt.Errorf("node %s: the agent is running", n.Name)
	}
	c := n.cluster
	args := append([]string{"agent", "--server", "https://" + netip.AddrPortFrom(c.Server, uint16(c.opts.APIPort)).String(),
		"--token", c.Token, "--data-dir", n.DataDir, "--node-name", n.Name, "--node-ip", n.IP.String(),
		"--registry", netip.AddrPortFrom(c.Server, uint16(c.opts.RegistryPort)).String()}, c.opts.AgentArgs...)
	p, err := c.start(n.NetNS, filepath.Join(n.DataDir, "agent.log"), args)
	if err != nil {
		return err
	}
	n.agent = p
	return nil
}

// Stop stops the node's agent with SIGTERM (its containers keep running, as on a real node
// whose agent stops).
func (n *Node) Stop() { n.agent.stop(syscall.SIGTERM) }

// Kill stops the node's agent with SIGKILL.
func (n *Node) Kill() { n.agent.stop(syscall.SIGKILL) }

// Exec runs a command inside the node's network namespace and returns its combined output.
func (n *Node) Exec(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=/run/netns/" + n.NetNS, "--", name}, args...)...)
	cmd.Env = append(os.Environ(), n.cluster.opts.Env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Stop stops every agent and the server, leaving containers, network and data for Destroy.
func (c *Cluster) Stop() {
	for _, n := range c.Nodes {
		if n.agent != nil {
			n.agent.stop(syscall.SIGTERM)
		}
	}
	if c.server != nil {
		c.server.stop(syscall.SIGTERM)
	}
}

// Destroy removes a dev cluster made with opts: its processes, every node's containers,
// mounts and namespace, the bridge and the data directory. It works on what a crashed run
// left as well, and on a cluster that is not there at all.
func Destroy(opts Options) error {
	if err := opts.defaults(); err != nil {
		return err
	}
	var errs []error
	dirs, _ := filepath.Glob(filepath.Join(opts.DataDir, "node-*"))
	for _, dir := range append(dirs, filepath.Join(opts.DataDir, "server")) {
		uninstall.KillUnder(dir)
	}
	netnses, _ := filepath.Glob("/run/netns/" + opts.Bridge + "-*")
	for _, ns := range netnses {
		if err := iproute.Run("netns", "delete", filepath.Base(ns)); err != nil {
			errs = append(errs, err)
		}
	}
	links, _ := filepath.Glob("/sys/class/net/" + opts.Bridge + "*")
	for _, l := range links {
		if err := iproute.Run("link", "delete", filepath.Base(l)); err != nil && iproute.LinkExists(filepath.Base(l)) {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(opts.DataDir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
