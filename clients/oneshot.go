package clients

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"time"
)

// Dial connects to network ("tcp" or "unix") and addr, honouring ctx.
func Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("connect %s %s: %w", network, addr, err)
	}
	return c, nil
}

// Do sends one text request and returns the whole reply. It half-closes
// after the request (like nc -N) so the server never waits, and reads until
// the server closes: EOF is the only end-of-reply marker of the protocol.
func Do(ctx context.Context, network, addr, line string) ([]byte, error) {
	var buf bytes.Buffer
	_, err := doTo(ctx, network, addr, line, &buf)
	return buf.Bytes(), err
}

// doTo is Do that streams the reply into w instead of memory.
func doTo(ctx context.Context, network, addr, line string, w io.Writer) (int64, error) {
	return exchange(ctx, network, addr, []byte(line+"\n"), func(r io.Reader) (int64, error) {
		return io.Copy(w, r)
	})
}

// exchange is one VoIPmonitor-style round trip: connect, send req,
// half-close, and let read consume the reply until the server closes.
// ctx bounds all of it.
func exchange(ctx context.Context, network, addr string, req []byte, read func(io.Reader) (int64, error)) (int64, error) {
	c, err := Dial(ctx, network, addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := c.Write(req); err != nil {
		return 0, fmt.Errorf("send request: %w", err)
	}
	if hc, ok := c.(interface{ CloseWrite() error }); ok {
		_ = hc.CloseWrite()
	}
	n, err := read(c)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return n, fmt.Errorf("read reply: %w", err)
	}
	return n, nil
}
