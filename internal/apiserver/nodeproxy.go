package apiserver

import (
	"net/http"

	"k8s.io/apimachinery/pkg/util/proxy"
)

// nodeProxy forwards /api/v1/nodes/{name}/proxy/{path} to the node's agent, as kube-apiserver
// forwards it to the kubelet: `kubectl get --raw /api/v1/nodes/<n>/proxy/stats/summary`.
func (s *Server) nodeProxy(w http.ResponseWriter, r *http.Request, q *request) {
	loc, err := s.nodeLocation(r.Context(), q.info.Name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	loc.Path, loc.RawQuery = "/"+q.info.Subpath, r.URL.RawQuery
	proxy.NewUpgradeAwareHandler(loc, s.nodeTransport, false, false, upgradeResponder{s}).ServeHTTP(w, r)
}
