package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// Builtin is a trivial gnet server started by the bench itself.
//
// "floor" answers "pong\n" to every line: the least a gnet server can do
// per request, so the limit tapline's framework allows on this machine.
// "echo" writes back whatever it receives, with no line parsing at all:
// it shows how fast the client itself can go.
// In one-shot mode both close the connection after the first reply.
// They listen like tapline does: a TCP engine with one listening socket per
// event loop (SO_REUSEPORT) and a Unix engine of its own.
type Builtin struct {
	Kind    string
	OneShot bool
	TCP     Target
	Unix    Target

	dir  string
	engs [2]atomic.Pointer[gnet.Engine] // TCP, Unix
	done chan error                     // one value per engine
}

// StartBuiltin starts kind ("floor" or "echo") on a free loopback TCP port
// and on a Unix socket in a fresh temporary directory.
func StartBuiltin(kind string, oneShot bool) (*Builtin, error) {
	if kind != "floor" && kind != "echo" {
		return nil, fmt.Errorf("unknown built-in target %q", kind)
	}
	port, dir, sock, err := listenSpots(kind)
	if err != nil {
		return nil, err
	}
	b := &Builtin{Kind: kind, OneShot: oneShot, dir: dir, done: make(chan error, 2),
		TCP:  Target{Network: "tcp", Addr: fmt.Sprintf("127.0.0.1:%d", port), Builtin: kind},
		Unix: Target{Network: "unix", Addr: sock, Builtin: kind}}
	listen := []struct {
		addr string
		opts []gnet.Option
	}{
		{"tcp://" + b.TCP.Addr, []gnet.Option{gnet.WithMulticore(true), gnet.WithReusePort(true), gnet.WithReuseAddr(true)}},
		{"unix://" + sock, nil},
	}
	for i, l := range listen {
		booted := make(chan struct{})
		h := &builtinHandler{b: b, slot: &b.engs[i], booted: booted}
		opts := append(l.opts, gnet.WithTCPNoDelay(gnet.TCPNoDelay), gnet.WithLogger(quietLogger{}))
		go func() { b.done <- gnet.Run(h, l.addr, opts...) }()
		select {
		case <-booted:
		case err := <-b.done:
			_ = b.Stop()
			return nil, fmt.Errorf("start %s: %w", kind, err)
		case <-time.After(10 * time.Second):
			_ = b.Stop()
			return nil, fmt.Errorf("start %s: timed out", kind)
		}
	}
	return b, nil
}

// Stop shuts the server down and removes its socket directory.
func (b *Builtin) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	for i := range b.engs {
		e := b.engs[i].Load()
		if e == nil {
			continue
		}
		errs = append(errs, e.Stop(ctx))
		select {
		case <-b.done:
		case <-ctx.Done():
		}
	}
	_ = os.RemoveAll(b.dir)
	return errors.Join(errs...)
}

type builtinHandler struct {
	gnet.BuiltinEventEngine
	b      *Builtin
	slot   *atomic.Pointer[gnet.Engine]
	booted chan struct{}
}

func (h *builtinHandler) OnBoot(e gnet.Engine) gnet.Action {
	h.slot.Store(&e)
	close(h.booted)
	return gnet.None
}

var pong = []byte("pong\n")

func (h *builtinHandler) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	if h.b.Kind == "echo" {
		// Replies are as small as the requests: a direct write lands in the
		// socket at once, so closing right after it loses nothing.
		_, _ = c.Write(buf)
		if h.b.OneShot {
			return gnet.Close
		}
		return gnet.None
	}
	n := 0
	for _, ch := range buf {
		if ch == '\n' {
			n++
		}
	}
	if n == 0 {
		return gnet.None
	}
	if h.b.OneShot {
		_, _ = c.Write(pong)
		return gnet.Close // one request per connection, as in text mode
	}
	if n == 1 {
		_, _ = c.Write(pong)
		return gnet.None
	}
	out := make([]byte, 0, n*len(pong))
	for range n {
		out = append(out, pong...)
	}
	_, _ = c.Write(out)
	return gnet.None
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// quietLogger drops gnet's own log lines; the bench prints what matters.
type quietLogger struct{}

func (quietLogger) Debugf(string, ...any) {}
func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Warnf(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(string, ...any) {}

// listenSpots picks what an in-process target listens on: a free loopback
// TCP port and a Unix socket path in a fresh temporary directory.
func listenSpots(name string) (port int, dir, sock string, err error) {
	if port, err = freePort(); err != nil {
		return 0, "", "", err
	}
	if dir, err = os.MkdirTemp("", "tapline-bench-"); err != nil {
		return 0, "", "", err
	}
	return port, dir, filepath.Join(dir, name+".sock"), nil
}
