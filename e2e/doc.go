// Package e2e holds tapline's end-to-end tests. They build the real binary
// (with the tapline_testcmds tag, which adds test_blob and test_sleep) once
// per `go test` run, start servers on loopback TCP and Unix sockets, and talk
// to them with the clients people really use: netcat-openbsd (with and
// without -N, -q, -U), socat, bash /dev/tcp and Go's net package.
//
// The package has no non-test code; this file only carries the package
// documentation. Run with:
//
//	go test -race -count=1 ./e2e/
//
// TAPLINE_E2E_BIN=/path/to/tapline runs the suite against a prebuilt binary
// (built with -tags tapline_testcmds) instead of building one.
//
// nc and socat must be installed (`make deps`). -short skips the 64 MiB
// transfers and the slow-reader memory test.
package e2e
