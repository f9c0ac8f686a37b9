package nodeserver

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strconv"
)

// newPodTransport is the transport podProxy reaches pods with.
func newPodTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	return t
}

// podProxy forwards /podProxy/{scheme}/{ip}/{port}/{path...} to scheme://ip:port/path on this
// node's network: the API server's pods/proxy and services/proxy, which reach pods through
// their node because the server need not be on the pod network. Only the API server's client
// certificate gets here (authorize). HTTPS targets are not verified, as kube-apiserver's
// pod proxy does not verify them either.
func (s *Server) podProxy(w http.ResponseWriter, r *http.Request) {
	scheme, ipText, portText := r.PathValue("scheme"), r.PathValue("ip"), r.PathValue("port")
	ip, err := netip.ParseAddr(ipText)
	port, perr := strconv.ParseUint(portText, 10, 16)
	if err != nil || perr != nil || port == 0 || (scheme != "http" && scheme != "https") {
		writeText(w, http.StatusBadRequest, "want /podProxy/{http|https}/{ip}/{port}/{path}")
		return
	}
	target := &url.URL{Scheme: scheme, Host: net.JoinHostPort(ip.String(), portText)}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.URL.Path = "/" + pr.In.PathValue("path")
			pr.Out.URL.RawPath = ""
			pr.Out.Host = target.Host
		},
		Transport: s.podTransport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.Debug("pod proxy", "target", target, "err", err)
			writeText(w, http.StatusBadGateway, "error trying to reach "+target.String()+": "+err.Error())
		},
	}
	rp.ServeHTTP(w, r)
}
