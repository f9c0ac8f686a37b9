// Package etcd runs etcd inside the Gantry process and implements storage.Store on it.
//
// # Why embedded etcd
//
// The API server needs what etcd already is: an ordered key space, compare-and-swap on a
// per-key revision, a single cluster-wide revision that only grows (it becomes the objects'
// resourceVersion, so it must survive restarts), reads at a past revision for consistent paged
// lists, and watches that replay history from a revision. Writing that on top of a plain
// embedded database means rewriting an MVCC store and a watch hub; running a separate etcd
// means one more process to install, secure and keep in step. Embedding etcd keeps one binary
// and the semantics Kubernetes clients already rely on.
//
// # Shape
//
// Start runs a single-member etcd whose data is DataDir. It has no peer listener, and its one
// client listener is a unix socket, DataDir/etcd.sock, for etcdctl; should the path be too long
// for a socket, it listens on an ephemeral loopback port instead (Server.ClientURL says where).
// The Store does not use either: it calls the etcd server in-process through
// etcdserver/api/v3client, which skips gRPC framing and the socket. On this project's 2-core
// test machine that is also faster for concurrent creates (see BenchmarkCreate).
//
// Each read and write is a single etcd request, so each is atomic:
//
//   - Create is Txn(If CreateRevision(key) == 0).Then(Put).
//   - Update is Txn(If key exists and ModRevision(key) == expected).Then(Put).Else(Get): the Else
//     tells ErrNotFound from ErrConflict without a second, racy read.
//   - Delete is the same with Delete(WithPrevKV), or a plain delete when any revision will do.
//   - List is one ranged Get from the key after After to the end of the prefix, at Revision if
//     given, with etcd's Count giving Remaining.
//   - Watch is an etcd watch over the prefix from after+1 with previous values, so that deletes
//     carry the value deleted and updates the value replaced. A read at after first makes sure
//     after is not compacted: etcd would still start a watch at exactly the compacted revision,
//     without the previous values it no longer has.
//
// # Durability
//
// etcd acknowledges a write only after its write-ahead log is fsynced, and the Server leaves
// that in place (UnsafeNoFsync stays false): after a crash or kill -9, reopening DataDir loses
// nothing a Store call returned success for. Close only releases the directory.
//
// # Compaction
//
// etcd keeps every revision until told to forget. The Server runs kube-apiserver's policy:
// every CompactInterval it compacts to the revision it saw one interval earlier, so history of
// at least one interval is always there for watchers and paged lists to resume from, and the
// database does not grow without bound. etcd's own compactor is off. Compaction frees pages for
// reuse but never shrinks the file; there is no defragmentation yet.
//
// # Logs
//
// etcd logs through zap. The Server turns its entries into slog records on Config.Logger with
// component=etcd: warnings and errors at their level, etcd's abundant info lines at debug.
package etcd
