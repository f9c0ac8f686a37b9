// Package volume prepares the volumes of the pods on a node, as the kubelet's volume manager
// and its in-tree volume plugins do, and turns a container's volumeMounts into CRI mounts.
//
// Layout: every volume of pod <uid> that is a directory of the agent lives in
// <root>/pods/<uid>/volumes/<plugin>/<name>, with the kubelet's plugin names
// (kubernetes.io~empty-dir, ~configmap, ~secret, ~downward-api, ~projected). hostPath
// volumes and claims bound to hostPath or local PersistentVolumes are used in place: the CRI
// runtime bind-mounts their path into the container.
//
//   - emptyDir: a 0777 directory on the agent's disk; medium Memory mounts a tmpfs whose size
//     is the node's allocatable memory, lowered to the pod's memory limit and to sizeLimit.
//     A disk emptyDir's sizeLimit is enforced by eviction: the agent calls ExceedsSizeLimit.
//   - hostPath: the type checks (and DirectoryOrCreate/FileOrCreate creations) with the
//     kubelet's messages.
//   - configMap, secret, downwardAPI, projected: files written with the kubelet's atomic
//     writer layout (a timestamped directory, a "..data" symlink renamed over atomically,
//     and one "name -> ..data/name" symlink per top-level name), so a reader never sees half
//     an update. Secrets and projected volumes sit on a tmpfs, never on disk. Projected
//     service account tokens come from the TokenRequest API and are renewed at 80% of
//     their life.
//   - persistentVolumeClaim (and generic ephemeral volumes, claim <pod>-<volume>): the
//     claim must be Bound to a volume whose claimRef points back at it; hostPath and local
//     volumes are supported. A local volume of Gantry's local-path provisioner gets its
//     directory here, on the node that first mounts it.
//
// Errors: Setup returns a *FailedMount whose messages are the FailedMount events the kubelet
// would record ("MountVolume.SetUp failed for volume ...", "Unable to attach or mount
// volumes: ... PVC is not bound"). Setup is idempotent and cheap when nothing changed; the
// agent calls it on every pod sync, which also carries label and annotation changes into
// downwardAPI files.
//
// Updates: Run watches each config map and secret some pod's volume projects (one watch per
// object, selected by name, as the kubelet's watch-based manager does) and rewrites the
// volumes that use it as soon as it changes; every minute it rewrites them all (token
// renewal, missed events). A subPath mount is resolved to the real file when the container
// is created, so it keeps the content it had, as in Kubernetes. Run also removes the
// directories of local-path volumes whose PersistentVolume was deleted.
//
// subPath safety: a subPath is refused if absolute or containing "..", and its symlinks are
// resolved and must stay inside the volume. Unlike the kubelet, which bind-mounts the
// resolved path under volume-subpaths to close the window between check and use, the
// resolved path is handed to the runtime directly.
//
// Teardown unmounts every mount under the pod's volumes directory before removing it, so a
// removal can never reach into a mounted file system.
package volume
