// Package openapi serves the OpenAPI documents of the API server: v2 at /openapi/v2 and v3 at
// /openapi/v3 plus one document per group version (/openapi/v3/api/v1,
// /openapi/v3/apis/apps/v1...).
//
// kubectl cannot work without them: `apply`, `create -f`, `replace` and `edit` validate with
// --validate=strict by default and fail when neither document can be downloaded; `explain`
// renders the v3 schemas; client-side `apply` computes strategic merge patches from the v3
// schemas (their x-kubernetes-patch-merge-key extensions). Helm install and upgrade validate
// the same way. What the clients look for (checked against kubectl 1.37):
//   - a path whose PATCH operation carries x-kubernetes-group-version-kind equal to the kind
//     and a fieldValidation query parameter: then kubectl leaves validation to the server and
//     sends fieldValidation=Strict (k8s.io/cli-runtime/pkg/resource/query_param_verifier_v3.go;
//     the v2 check, on the protobuf form of /openapi/v2, is the fallback);
//   - application/strategic-merge-patch+json in that PATCH operation's request body (apply);
//   - the list or item path of the resource with a GVK extension, and a components schema
//     whose x-kubernetes-group-version-kind list contains that GVK (explain).
//
// The documents are built the way kube-apiserver builds its own: each served kind is
// described as go-restful routes with the installer's operation names, parameters, bodies and
// extensions (routes.go; the web services are never served), and kube-openapi's builders
// turn the routes plus the definitions generated from k8s.io/api
// (k8s.io/kubernetes/pkg/generated/openapi) into documents; kube-openapi's handlers serve
// them with ETags, protobuf and the v3 hash URLs. So the documents match the kinds Gantry
// actually serves, with the same paths, operation IDs and schema names as Kubernetes.
//
// Building is lazy: New only validates and describes the routes; a document is built on its
// first request (the v3 list builds all v3 documents in parallel) or by Service.Warm, and is
// cached from then on.
package openapi
