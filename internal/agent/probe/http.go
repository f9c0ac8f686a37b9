package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// httpTransport is shared by all HTTP probes: no certificate verification, no proxy, no
// connection reuse and no compression, as the kubelet's.
var httpTransport = &http.Transport{
	TLSClientConfig:     &tls.Config{InsecureSkipVerify: true},
	DisableKeepAlives:   true,
	DisableCompression:  true,
	Proxy:               nil,
	TLSHandshakeTimeout: 10 * time.Second,
}

// httpRequest builds the GET of an httpGet probe: host defaults to the pod's IP, the port
// may be one of the container's port names, the headers are the probe's plus the
// kubelet's User-Agent and Accept unless the probe sets them (an empty Accept drops it).
func httpRequest(get *corev1.HTTPGetAction, c *corev1.Container, podIP string) (*http.Request, error) {
	port, err := containerPort(get.Port, c)
	if err != nil {
		return nil, err
	}
	scheme := strings.ToLower(string(get.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	host := get.Host
	if host == "" {
		host = podIP
	}
	u, err := url.Parse(get.Path)
	if err != nil {
		u = &url.URL{Path: get.Path}
	}
	u.Scheme, u.Host = scheme, net.JoinHostPort(host, strconv.Itoa(port))
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("probe request: %w", err)
	}
	for _, h := range get.HTTPHeaders {
		req.Header.Add(h.Name, h.Value)
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header.Set("User-Agent", userAgent)
	}
	if _, ok := req.Header["Accept"]; !ok {
		req.Header.Set("Accept", "*/*")
	} else if req.Header.Get("Accept") == "" {
		req.Header.Del("Accept")
	}
	req.Host = req.Header.Get("Host")
	return req, nil
}

// httpHandler passes on a status from 200 to 399; a redirect it does not follow (to
// another host) passes with a warning.
func httpHandler(req *http.Request) handler {
	return func(ctx context.Context, timeout time.Duration) (outcome, string, error) {
		client := &http.Client{Timeout: timeout, Transport: httpTransport, CheckRedirect: sameHostRedirects}
		res, err := client.Do(req.Clone(ctx))
		if err != nil {
			return failed, err.Error(), nil
		}
		defer res.Body.Close()
		body, err := io.ReadAll(io.LimitReader(res.Body, maxOutput))
		if err != nil {
			return failed, "", fmt.Errorf("read probe response: %w", err)
		}
		switch {
		case res.StatusCode >= 300 && res.StatusCode < 400:
			return warned, fmt.Sprintf("Probe terminated redirects, Response body: %s", body), nil
		case res.StatusCode >= 200 && res.StatusCode < 300:
			return passed, string(body), nil
		}
		return failed, fmt.Sprintf("HTTP probe failed with statuscode: %d", res.StatusCode), nil
	}
}

// sameHostRedirects follows up to 10 redirects to the probed host; a redirect elsewhere
// ends the probe with the redirect response.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}
