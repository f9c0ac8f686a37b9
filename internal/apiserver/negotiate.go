package apiserver

import (
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/endpoints/handlers/negotiation"
)

// output is how a response is encoded, as negotiated from the request's Accept header.
type output struct {
	// media is the response's media type: application/json, application/yaml or
	// application/vnd.kubernetes.protobuf.
	media string
	// as is the meta.k8s.io form the client asked for instead of the object itself: a Table,
	// PartialObjectMetadata or PartialObjectMetadataList. nil means the object.
	as *schema.GroupVersionKind
}

var jsonOutput = output{media: runtime.ContentTypeJSON}

// table reports whether the client asked for a Table.
func (o output) table() bool { return o.as != nil && o.as.Kind == "Table" }

// partial reports whether the client asked for metadata only.
func (o output) partial() bool {
	return o.as != nil && (o.as.Kind == "PartialObjectMetadata" || o.as.Kind == "PartialObjectMetadataList")
}

// contentType is the Content-Type of a response in o.media; watch streams of media other
// than JSON say so with stream=watch, as kube-apiserver's do.
func (o output) contentType(watch bool) string {
	if watch && o.media != runtime.ContentTypeJSON {
		return o.media + ";stream=watch"
	}
	return o.media
}

// resourceEndpoint restricts negotiation as kube-apiserver does for the resources of
// built-in kinds: Tables only as JSON or YAML (a Table has no protobuf form), metadata-only
// forms in any media type, no other conversion. A clause asking for anything else is skipped
// and the next one is tried.
type resourceEndpoint struct{}

func (resourceEndpoint) AllowsMediaTypeTransform(mimeType, mimeSubType string, gvk *schema.GroupVersionKind) bool {
	if gvk == nil {
		return true
	}
	if gvk.Group != metav1.GroupName || (gvk.Version != "v1" && gvk.Version != "v1beta1") {
		return false
	}
	switch gvk.Kind {
	case "Table":
		return mimeType == "application" && (mimeSubType == "json" || mimeSubType == "yaml")
	case "PartialObjectMetadata", "PartialObjectMetadataList":
		return true
	}
	return false
}

func (resourceEndpoint) AllowsServerVersion(string) bool { return false }

func (resourceEndpoint) AllowsStreamSchema(s string) bool { return s == "watch" }

// negotiate chooses the encoding of a response from the Accept header, in the client's order
// of preference (q-values first, then the order listed); an empty header means JSON. A watch
// needs a media type that can be streamed: JSON or protobuf. When nothing the client accepts
// can be served the error is a 406 Status listing what can.
func (c *codecs) negotiate(r *http.Request, endpoint negotiation.EndpointRestrictions, watch bool) (output, error) {
	opts, ok := negotiation.NegotiateMediaTypeOptions(r.Header.Get("Accept"), c.factory.SupportedMediaTypes(), endpoint)
	if ok && (!watch || opts.Accepted.StreamSerializer != nil) {
		return output{media: opts.Accepted.MediaType, as: opts.Convert}, nil
	}
	media, streams := negotiation.MediaTypesForSerializer(c.factory)
	if watch {
		media = streams
	}
	return output{}, negotiation.NewNotAcceptableError(media)
}

// errorOutput is the encoding of an error response: negotiated as for any object but without
// conversions, since a Status is never converted; JSON when the client accepts nothing the
// server offers, so that even a 406 can be read.
func (c *codecs) errorOutput(r *http.Request) output {
	out, err := c.negotiate(r, negotiation.DefaultEndpointRestrictions, false)
	if err != nil {
		return jsonOutput
	}
	return out
}
