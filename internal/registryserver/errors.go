package registryserver

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Error codes of the distribution-spec.
const (
	codeBlobUnknown         = "BLOB_UNKNOWN"
	codeBlobUploadInvalid   = "BLOB_UPLOAD_INVALID"
	codeBlobUploadUnknown   = "BLOB_UPLOAD_UNKNOWN"
	codeDigestInvalid       = "DIGEST_INVALID"
	codeManifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN"
	codeManifestInvalid     = "MANIFEST_INVALID"
	codeManifestUnknown     = "MANIFEST_UNKNOWN"
	codeNameInvalid         = "NAME_INVALID"
	codeNameUnknown         = "NAME_UNKNOWN"
	codeSizeInvalid         = "SIZE_INVALID"
	codeTagInvalid          = "TAG_INVALID"
	codeUnsupported         = "UNSUPPORTED"
)

// regError is an error a client sees: a spec code, the HTTP status that goes with it and a
// message.
type regError struct {
	status  int
	code    string
	message string
	detail  any
}

func (e *regError) Error() string { return e.code + ": " + e.message }

func newError(status int, code, format string, args ...any) *regError {
	return &regError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// writeError answers with err in the spec's JSON error format. Errors that are not a
// *regError are the registry's own failures (disk, ...) and answer 500.
func writeError(w http.ResponseWriter, err error) {
	re, ok := err.(*regError)
	if !ok {
		re = &regError{status: http.StatusInternalServerError, code: "UNKNOWN", message: err.Error()}
	}
	type item struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Detail  any    `json:"detail,omitempty"`
	}
	body, _ := json.Marshal(struct {
		Errors []item `json:"errors"`
	}{[]item{{re.code, re.message, re.detail}}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(re.status)
	w.Write(body) //nolint:errcheck // the client went away
}
