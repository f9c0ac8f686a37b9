// Command testserver is the test image's only program, multi-call like Kubernetes' agnhost:
// the name it runs under (or its first argument) picks what it does. The image links sh,
// cat, ls, echo, sleep, test and tar to it, enough for exec probes, `kubectl exec` and
// `kubectl cp`.
//
//	serve [--port 8080] [--grpc-port N]   HTTP: / answers the hostname; /healthz is 200 until
//	                                      /fail is called; /file?path=P, /env/NAME, /exit?code=N,
//	                                      /alloc?mb=N; a gRPC health service on --grpc-port
//	crash [--after 0s] [--code 1]          exit with code after a while
//	hog                                    allocate and touch memory until killed
//	sleep [seconds|infinity]               sleep
//	cat, ls, echo, test -d|-f, tar cf|xf   the usual tools, minimal
//	sh -c "command args…"                  run one of the above (no pipes; `exit N` works)
//	get [--timeout 5s] [--insecure] URL    GET URL, print the body (exit 1 on an error or non-200)
//	lookup [--type A|SRV|PTR] NAME         resolve NAME through /etc/resolv.conf, one answer a line
package main

import (
	"archive/tar"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func main() {
	args := os.Args
	if name := filepath.Base(args[0]); name != "testserver" {
		args = append([]string{name}, args[1:]...)
	} else {
		args = args[1:]
	}
	if len(args) == 0 {
		args = []string{"serve"}
	}
	os.Exit(run(args))
}

// run runs one command and returns its exit code.
func run(args []string) int {
	cmd, rest := args[0], args[1:]
	commands := map[string]func([]string) int{
		"serve": serve, "crash": crash, "hog": hog, "sleep": sleep, "cat": cat, "ls": ls,
		"echo": echo, "test": test, "tar": tarCmd, "sh": sh, "get": get, "lookup": lookup,
	}
	f, ok := commands[cmd]
	if !ok {
		fmt.Fprintf(os.Stderr, "testserver: unknown command %q\n", cmd)
		return 127
	}
	return f(rest)
}

func serve(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	port := fs.Int("port", 8080, "HTTP port")
	grpcPort := fs.Int("grpc-port", 0, "gRPC health port (0: none)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	host, _ := os.Hostname()
	var unhealthy atomic.Bool
	var hoard [][]byte
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, host) })
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if unhealthy.Load() {
			http.Error(w, "unhealthy", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		unhealthy.Store(true)
		fmt.Fprintln(w, "now unhealthy")
	})
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		data, err := os.ReadFile(r.URL.Query().Get("path"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Write(data)
	})
	mux.HandleFunc("/env/{name}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, os.Getenv(r.PathValue("name")))
	})
	mux.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		fmt.Fprintln(w, "exiting")
		go func() {
			time.Sleep(100 * time.Millisecond)
			os.Exit(code)
		}()
	})
	mux.HandleFunc("/alloc", func(w http.ResponseWriter, r *http.Request) {
		mb, _ := strconv.Atoi(r.URL.Query().Get("mb"))
		hoard = append(hoard, touched(mb<<20))
		fmt.Fprintf(w, "holding %d chunks\n", len(hoard))
	})
	if *grpcPort > 0 {
		ln, err := net.Listen("tcp", ":"+strconv.Itoa(*grpcPort))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		s := grpc.NewServer()
		healthpb.RegisterHealthServer(s, health.NewServer())
		go s.Serve(ln)
	}
	fmt.Printf("serving HTTP on :%d as %s\n", *port, host)
	if err := http.ListenAndServe(":"+strconv.Itoa(*port), mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func touched(n int) []byte {
	b := make([]byte, n)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	return b
}

func crash(args []string) int {
	fs := flag.NewFlagSet("crash", flag.ContinueOnError)
	after := fs.Duration("after", 0, "run this long first")
	code := fs.Int("code", 1, "exit code")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fmt.Printf("crashing in %v with exit code %d\n", *after, *code)
	time.Sleep(*after)
	return *code
}

func hog([]string) int {
	var hoard [][]byte
	for {
		hoard = append(hoard, touched(4<<20))
		fmt.Printf("holding %d MiB\n", 4*len(hoard))
	}
}

func sleep(args []string) int {
	if len(args) == 0 || args[0] == "infinity" {
		// Wait for a signal: as a container's first process nothing else would end it, and a
		// bare select{} is a deadlock the Go runtime kills.
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		<-stop
		return 0
	}
	s, err := strconv.ParseFloat(args[0], 64)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sleep: invalid time interval %q\n", args[0])
		return 1
	}
	time.Sleep(time.Duration(s * float64(time.Second)))
	return 0
}

func cat(args []string) int {
	if len(args) == 0 {
		io.Copy(os.Stdout, os.Stdin)
		return 0
	}
	code := 0
	for _, a := range args {
		f, err := os.Open(a)
		if err != nil {
			fmt.Fprintf(os.Stderr, "cat: %v\n", err)
			code = 1
			continue
		}
		io.Copy(os.Stdout, f)
		f.Close()
	}
	return code
}

func ls(args []string) int {
	if len(args) == 0 {
		args = []string{"."}
	}
	code := 0
	for _, a := range args {
		entries, err := os.ReadDir(a)
		if err != nil {
			if _, serr := os.Stat(a); serr == nil {
				fmt.Println(a)
				continue
			}
			fmt.Fprintf(os.Stderr, "ls: %v\n", err)
			code = 2
			continue
		}
		for _, e := range entries {
			fmt.Println(e.Name())
		}
	}
	return code
}

func echo(args []string) int {
	fmt.Println(strings.Join(args, " "))
	return 0
}

// test supports -d (a directory), -f (a regular file) and -e (exists).
func test(args []string) int {
	if len(args) != 2 {
		return 2
	}
	st, err := os.Stat(args[1])
	switch {
	case err != nil:
		return 1
	case args[0] == "-d" && st.IsDir(), args[0] == "-f" && st.Mode().IsRegular(), args[0] == "-e":
		return 0
	}
	return 1
}

// sh runs `sh -c "command args…"`: the words of the command, with no shell syntax but
// `exit N`.
func sh(args []string) int {
	if len(args) != 2 || args[0] != "-c" {
		fmt.Fprintln(os.Stderr, `sh: only sh -c "command" is supported`)
		return 2
	}
	words := strings.Fields(args[1])
	if len(words) == 0 {
		return 0
	}
	if words[0] == "exit" {
		code := 0
		if len(words) > 1 {
			code, _ = strconv.Atoi(words[1])
		}
		return code
	}
	return run(words)
}

// tarCmd writes (`tar cf - PATH…`) or reads (`tar [options] -xmf - [-C DIR]`) a tar stream
// on stdin/stdout, as `kubectl cp` runs it. Member names lose their leading /, as GNU tar's.
func tarCmd(args []string) int {
	var create, extract bool
	dir := "."
	var paths []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-C" && i+1 < len(args):
			dir = args[i+1]
			i++
		case strings.HasPrefix(a, "--"):
			// --no-same-permissions, --no-same-owner: what this tar does anyway.
		case a == "-" || a == "":
		case strings.Trim(a, "-cxmfv") == "" && (strings.Contains(a, "c") || strings.Contains(a, "x")):
			create, extract = strings.Contains(a, "c"), strings.Contains(a, "x")
		default:
			paths = append(paths, a)
		}
	}
	var err error
	switch {
	case create:
		err = writeTar(os.Stdout, paths)
	case extract:
		err = readTar(os.Stdin, dir)
	default:
		err = errors.New("give c or x")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "tar: %v\n", err)
		return 2
	}
	return 0
}

func writeTar(w io.Writer, paths []string) error {
	tw := tar.NewWriter(w)
	for _, p := range paths {
		err := filepath.Walk(p, func(path string, info os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			link := ""
			if info.Mode()&os.ModeSymlink != 0 {
				link, _ = os.Readlink(path)
			}
			h, err := tar.FileInfoHeader(info, link)
			if err != nil {
				return err
			}
			h.Name = strings.TrimPrefix(path, "/")
			if info.IsDir() {
				h.Name += "/"
			}
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			if info.Mode().IsRegular() {
				f, err := os.Open(path)
				if err != nil {
					return err
				}
				defer f.Close()
				_, err = io.Copy(tw, f)
				return err
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return tw.Close()
}

func readTar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeSymlink:
			os.Remove(target)
			if err := os.Symlink(h.Linkname, target); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, os.FileMode(h.Mode).Perm())
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			f.Close()
			if err != nil {
				return err
			}
		}
	}
}

// get fetches a URL and prints the body; connection errors and statuses other than 200 fail.
func get(args []string) int {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	insecure := fs.Bool("insecure", false, "do not verify the server's certificate")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: get [--timeout 5s] [--insecure] URL")
		return 2
	}
	client := http.Client{Timeout: *timeout,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: *insecure}}}
	resp, err := client.Get(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer resp.Body.Close()
	io.Copy(os.Stdout, resp.Body)
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, resp.Status)
		return 1
	}
	return 0
}

// lookup resolves a name with Go's own resolver, which reads /etc/resolv.conf (search path,
// ndots) as libc does; it prints one answer a line and fails if there is none.
func lookup(args []string) int {
	fs := flag.NewFlagSet("lookup", flag.ContinueOnError)
	kind := fs.String("type", "A", "A, SRV or PTR")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: lookup [--type A|SRV|PTR] NAME")
		return 2
	}
	r := &net.Resolver{PreferGo: true}
	name := fs.Arg(0)
	var answers []string
	var err error
	switch *kind {
	case "A":
		answers, err = r.LookupHost(context.Background(), name)
	case "PTR":
		answers, err = r.LookupAddr(context.Background(), name)
	case "SRV":
		var srvs []*net.SRV
		_, srvs, err = r.LookupSRV(context.Background(), "", "", name)
		for _, s := range srvs {
			answers = append(answers, fmt.Sprintf("%s %d", s.Target, s.Port))
		}
	default:
		fmt.Fprintf(os.Stderr, "lookup: unknown type %q\n", *kind)
		return 2
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, a := range answers {
		fmt.Println(a)
	}
	return 0
}
