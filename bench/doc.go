// Package bench is tapline's whole-system load generator: `tapline bench`
// and `make bench`.
//
// It exists because the manager socket's speed is a feature that has to be
// shown honestly, next to the alternatives a user would pick instead
// (HAProxy's runtime API, Redis, the least a gnet server can do), measured
// by the same client in the same run. Micro-benchmarks stay in
// `go test -bench` next to the code they measure; this package measures
// what a script or GUI sees: dial, request, reply, close.
//
// One client drives every target, so ratios are comparable: a Target is a
// TCP or Unix address (or a built-in "floor"/"echo" server started
// in-process), a Config picks the mode (one-shot, JSON session, pipelined),
// the encryption and the load, and Run returns a Result with throughput,
// HDR-histogram latency percentiles, errors by kind, bytes and the client's
// CPU. Report, WriteJSON and Plot render results; Standard runs the
// comparison of issue 5 with its own tapline, redis-server and haproxy.
//
// It owns the load generator, the built-in floor and echo servers, the
// synthetic capture of the snapshot case, the standard comparison and its
// reports: latest.{md,json}, the chart (one panel per section, chart.go)
// and docs/PERFORMANCE.md (perfdoc.go). It may import every tapline
// package, since it starts a whole server in-process (StartTapline); no
// package but cmd/tapline may import it.
package bench
