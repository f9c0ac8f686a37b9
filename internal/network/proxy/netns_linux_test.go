package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// requireRoot skips tests that build network namespaces when not root (CI runs as root).
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds network namespaces and nftables tables")
	}
}

// sh runs an ip/nft command line and fails the test if it fails.
func sh(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// netns is a network namespace the test made; it is deleted (with its links) at cleanup.
type netns string

func newNetns(t testing.TB, role string) netns {
	t.Helper()
	name := fmt.Sprintf("gtest-proxy-%d-%s", os.Getpid(), role)
	sh(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("delete netns %s: %v: %s", name, err, out)
		}
	})
	ns := netns(name)
	ns.exec(t, "ip", "link", "set", "lo", "up")
	return ns
}

// exec runs a command inside the namespace.
func (ns netns) exec(t testing.TB, args ...string) string {
	t.Helper()
	return sh(t, append([]string{"ip", "netns", "exec", string(ns)}, args...)...)
}

func (ns netns) sysctl(t testing.TB, key, value string) {
	t.Helper()
	ns.exec(t, "sh", "-c", fmt.Sprintf("echo %s > /proc/sys/%s", value, key))
}

// do runs f on an OS thread switched into the namespace. Sockets f opens stay in the
// namespace; the thread is thrown away afterwards (the goroutine ends still locked).
func (ns netns) do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/var/run/netns/"+string(ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open netns %s: %w", ns, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", ns, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// serve answers every TCP connection to addr inside the namespace with "<name> <client>\n",
// so the test sees which backend it reached and which source address that backend saw.
func (ns netns) serve(t testing.TB, addr, name string) {
	t.Helper()
	var l net.Listener
	if err := ns.do(func() (err error) { l, err = net.Listen("tcp4", addr); return err }); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			fmt.Fprintf(c, "%s %s\n", name, host)
			c.Close()
		}
	}()
}

// answer is what a test server said: who it is and the client address it saw.
type answer struct{ server, client string }

// dial connects from the namespace to addr and reads the server's answer.
func (ns netns) dial(addr string, timeout time.Duration) (answer, error) {
	var c net.Conn
	if err := ns.do(func() (err error) { c, err = net.DialTimeout("tcp4", addr, timeout); return err }); err != nil {
		return answer{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return answer{}, fmt.Errorf("read from %s: %w", addr, err)
	}
	f := strings.Fields(line)
	if len(f) != 2 {
		return answer{}, fmt.Errorf("bad answer %q from %s", line, addr)
	}
	return answer{f[0], f[1]}, nil
}

func isRefused(err error) bool { return errors.Is(err, unix.ECONNREFUSED) }
