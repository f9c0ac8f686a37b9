// Package bench measures a Gantry API server from the outside, the way its clients see it.
//
// API answers five questions about a server:
//
//   - how long a new server takes from process start to answering /readyz;
//   - how much memory (resident set) it holds at start and once N pods exist;
//   - how fast it accepts pod creates from several concurrent clients, and at what latency;
//   - how long a LIST of every pod takes, in JSON as kubectl receives it, and as a client
//     that prefers protobuf (client-go configured as controllers are) receives it;
//   - how long a write takes to reach each of many watchers, and the last of them.
//
// The server under test is `gantry server` run as a child process of the running gantry
// executable, so that its start is a real process start and its memory is its own: the
// clients that drive it (100 watchers decoding every event among them) live in this process
// and are not counted.
//
// Every client is a client-go clientset with its own connection and no client-side rate
// limit. Creates are sent as protobuf, as client-go does for built-in kinds.
//
// The package reports figures and judges none of them: timings depend on the machine, so
// compare figures taken one after the other on the same machine.
package bench
