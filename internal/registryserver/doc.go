// Package registryserver is Gantry's embedded OCI distribution registry: the place cluster
// images live, so that nodes pull them without the internet.
//
// It implements the OCI distribution-spec v1.1 endpoints for pull, push, content discovery
// (tags, referrers) and content management (deletes) over plain net/http. Everything is kept
// on disk under one directory, so a restarted registry serves what it stored:
//
//	blobs/<alg>/<hex>                            content-addressed blobs, manifests included (sha256, sha512)
//	uploads/<uuid>                               data of upload sessions in progress
//	repositories/<repo>/_layers/<alg>/<hex>      the blobs a repository may serve (empty files)
//	repositories/<repo>/_manifests/<alg>/<hex>   the repository's manifests; the file holds the media type
//	repositories/<repo>/_tags/<tag>              the digest the tag points to
//	repositories/<repo>/_referrers/<alg>/<hex>/<alg>.<hex>  manifests whose subject is <alg>:<hex>
//
// Repository path components match the spec's name regex, which never starts with "_", so
// the bookkeeping directories cannot collide with a repository. Every file is written to a
// temporary file and renamed into place, which makes each write atomic and concurrent writers
// of the same content harmless; upload sessions serialise their own chunks.
//
// Mirroring: containerd, using this registry as a mirror for host H, sends "?ns=H". The
// repository is then "<H>/<name>" (an imported nginx:1.27 lives in docker.io/library/nginx),
// except when H is one of the registry's own names (Options.OwnNames), where it is "<name>".
package registryserver
