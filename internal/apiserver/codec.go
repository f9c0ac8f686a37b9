package apiserver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
)

// maxBodyBytes is the largest request body accepted, as in kube-apiserver.
const maxBodyBytes = 3 * 1024 * 1024

// codecs turns request bodies into objects and objects into responses and stored bytes.
type codecs struct {
	scheme  *runtime.Scheme
	factory serializer.CodecFactory
	json    runtime.Encoder
	yaml    runtime.Encoder
	// protobuf answers clients that ask for it; it writes lists item by item.
	protobuf runtime.Encoder
	// storage is protobuf: the most compact and the fastest to decode of the wire forms.
	storage *protobuf.Serializer
}

func newCodecs(scheme *runtime.Scheme, factory serializer.CodecFactory) *codecs {
	return &codecs{
		scheme:   scheme,
		factory:  factory,
		json:     json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme, json.SerializerOptions{}),
		yaml:     json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme, json.SerializerOptions{Yaml: true}),
		protobuf: protobuf.NewSerializerWithOptions(scheme, scheme, protobuf.SerializerOptions{StreamingCollectionsEncoding: true}),
		storage:  protobuf.NewSerializer(scheme, scheme),
	}
}

// fieldValidation is the fieldValidation query parameter: how unknown and duplicate fields in
// a body are treated.
type fieldValidation string

const (
	validationStrict fieldValidation = "Strict"
	validationWarn   fieldValidation = "Warn"
	validationIgnore fieldValidation = "Ignore"
)

func parseFieldValidation(r *http.Request) (fieldValidation, error) {
	switch v := r.URL.Query().Get("fieldValidation"); v {
	case "", string(validationWarn):
		return validationWarn, nil
	case string(validationStrict), string(validationIgnore):
		return fieldValidation(v), nil
	default:
		return "", apierrors.NewBadRequest(fmt.Sprintf("fieldValidation must be one of Strict, Warn or Ignore, not %q", v))
	}
}

// readBody reads at most maxBodyBytes of the request body.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("read request body: %v", err))
	}
	if len(body) > maxBodyBytes {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d bytes", maxBodyBytes))
	}
	return body, nil
}

// mediaType returns the media type of the request body, application/json when unset.
func mediaType(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return runtime.ContentTypeJSON
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ct
	}
	return mt
}

// decode decodes body, sent with the given media type, into into, which must be of kind gvk.
// It returns the warnings that fieldValidation=Warn turns unknown fields into.
func (c *codecs) decode(body []byte, media string, gvk schema.GroupVersionKind, into runtime.Object, fv fieldValidation) ([]string, error) {
	info, ok := runtime.SerializerInfoForMediaType(c.factory.SupportedMediaTypes(), media)
	if !ok {
		return nil, unsupportedMediaType(media)
	}
	dec := runtime.Decoder(info.Serializer)
	if fv != validationIgnore && info.StrictSerializer != nil {
		dec = info.StrictSerializer
	}
	obj, got, err := dec.Decode(body, &gvk, into)
	var warnings []string
	if err != nil && runtime.IsStrictDecodingError(err) && fv == validationWarn {
		if strictErr, ok := runtime.AsStrictDecodingError(err); ok {
			for _, e := range strictErr.Errors() {
				warnings = append(warnings, e.Error())
			}
		}
		obj, got, err = info.Serializer.Decode(body, &gvk, into)
	}
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", gvk.Kind, gvk.Version, gvk.Kind, err))
	}
	if got != nil && (got.Group != gvk.Group || got.Version != gvk.Version) {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", got.GroupVersion(), gvk.GroupVersion()))
	}
	if obj != into || (got != nil && got.Kind != gvk.Kind) {
		kind := ""
		if got != nil {
			kind = got.Kind
		}
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the object provided is unrecognized: the body is of kind %q, but this URL accepts %s", kind, gvk.Kind))
	}
	return warnings, nil
}

func unsupportedMediaType(media string) error {
	return unsupportedMediaTypeMsg(fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got %q)", media))
}

func unsupportedMediaTypeMsg(msg string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusUnsupportedMediaType,
		Reason:  metav1.StatusReasonUnsupportedMediaType,
		Message: msg,
	}}
}

// encodeJSON writes obj as JSON with its apiVersion and kind set to gvk.
func (c *codecs) encodeJSON(w io.Writer, obj runtime.Object, gvk schema.GroupVersionKind) error {
	return c.encode(w, runtime.ContentTypeJSON, obj, gvk)
}

// encode writes obj in media, a negotiated media type, with its apiVersion and kind set to
// gvk (unless gvk is empty).
func (c *codecs) encode(w io.Writer, media string, obj runtime.Object, gvk schema.GroupVersionKind) error {
	if !gvk.Empty() {
		obj.GetObjectKind().SetGroupVersionKind(gvk)
	}
	enc := c.json
	switch media {
	case runtime.ContentTypeProtobuf:
		enc = c.protobuf
	case runtime.ContentTypeYAML:
		enc = c.yaml
	}
	return enc.Encode(obj, w)
}

// encodeBytes is obj encoded in media as encode writes it, without JSON's final newline.
func (c *codecs) encodeBytes(media string, obj runtime.Object, gvk schema.GroupVersionKind) ([]byte, error) {
	var buf bytes.Buffer
	if err := c.encode(&buf, media, obj, gvk); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	if media == runtime.ContentTypeJSON {
		data = bytes.TrimSuffix(data, []byte("\n"))
	}
	return data, nil
}

var statusGVK = metav1.SchemeGroupVersion.WithKind("Status")

// writeObject answers with obj in the negotiated media type.
func (s *Server) writeObject(w http.ResponseWriter, out output, code int, obj runtime.Object, gvk schema.GroupVersionKind) {
	w.Header().Set("Content-Type", out.contentType(false))
	w.WriteHeader(code)
	if err := s.codecs.encode(w, out.media, obj, gvk); err != nil {
		slog.Debug("write response", "err", err)
	}
}

// writeError answers with err as a metav1.Status. Errors without an API status are internal
// errors: they are logged and reported as 500.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		slog.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		status = apierrors.NewInternalError(err)
	}
	st := status.Status()
	st.Status = metav1.StatusFailure
	if st.Code == 0 {
		st.Code = http.StatusInternalServerError
	}
	s.writeObject(w, s.codecs.errorOutput(r), int(st.Code), &st, statusGVK)
}
