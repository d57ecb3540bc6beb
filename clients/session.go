package clients

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"

	"github.com/tidwall/gjson"
)

// Reply is one JSON-session answer.
type Reply struct {
	ID     json.RawMessage
	Result json.RawMessage // nil for binary replies
	Binary []byte          // set when the server framed the reply as binary
	Error  string
	Code   string
}

// Err returns the reply's error as a Go error, nil on success.
func (r *Reply) Err() error {
	if r.Code == "" && r.Error == "" {
		return nil
	}
	return &ServerError{Code: r.Code, Msg: r.Error}
}

// ServerError is an error reported by the server in a JSON session.
type ServerError struct{ Code, Msg string }

func (e *ServerError) Error() string { return e.Code + ": " + e.Msg }

// Session is a persistent JSON session. Send and Recv may be used from two
// goroutines to pipeline; Call is Send+Recv for one request at a time.
type Session struct {
	c      net.Conn
	r      *bufio.Reader
	wmu    sync.Mutex
	w      *bufio.Writer
	nextID int64
	// MaxBinary bounds a binary reply held in memory (default 256 MiB).
	MaxBinary int64
}

// Open starts a JSON session.
func Open(ctx context.Context, network, addr string) (*Session, error) {
	c, err := Dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &Session{c: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 64<<10), MaxBinary: 256 << 20}, nil
}

// Conn exposes the connection (deadlines, tests).
func (s *Session) Conn() net.Conn { return s.c }

// Send writes one request and returns its id. args may be nil, a string, a
// slice or a map; it is marshalled as the "args" value.
func (s *Session) Send(cmd string, args any) (int64, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.nextID++
	id := s.nextID
	b := append([]byte(`{"id":`), strconv.FormatInt(id, 10)...)
	b = append(b, `,"cmd":`...)
	cb, _ := json.Marshal(cmd)
	b = append(b, cb...)
	if args != nil {
		ab, err := json.Marshal(args)
		if err != nil {
			return 0, fmt.Errorf("encode args: %w", err)
		}
		b = append(append(b, `,"args":`...), ab...)
	}
	b = append(b, "}\n"...)
	if _, err := s.w.Write(b); err != nil {
		return 0, fmt.Errorf("send: %w", err)
	}
	return id, nil
}

// Flush sends buffered requests.
func (s *Session) Flush() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.w.Flush()
}

// Recv reads the next reply in order.
func (s *Session) Recv() (*Reply, error) {
	line, err := s.r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errors.New("reply line too long")
		}
		return nil, fmt.Errorf("receive: %w", err)
	}
	if !gjson.ValidBytes(line) {
		return nil, fmt.Errorf("receive: invalid JSON reply %q", truncate(line))
	}
	v := gjson.ParseBytes(line)
	rep := &Reply{ID: json.RawMessage(v.Get("id").Raw), Error: v.Get("error").Str, Code: v.Get("code").Str}
	if res := v.Get("result"); res.Exists() {
		rep.Result = json.RawMessage(res.Raw)
	}
	if bin := v.Get("binary"); bin.Exists() {
		n := bin.Int()
		if n < 0 || n > s.MaxBinary {
			return nil, fmt.Errorf("binary reply of %d bytes exceeds the limit", n)
		}
		rep.Binary = make([]byte, n)
		if _, err := io.ReadFull(s.r, rep.Binary); err != nil {
			return nil, fmt.Errorf("receive binary: %w", err)
		}
	}
	return rep, nil
}

// Call sends one request and waits for its reply.
func (s *Session) Call(ctx context.Context, cmd string, args any) (*Reply, error) {
	stop := context.AfterFunc(ctx, func() { _ = s.c.Close() })
	defer stop()
	if _, err := s.Send(cmd, args); err != nil {
		return nil, err
	}
	if err := s.Flush(); err != nil {
		return nil, err
	}
	r, err := s.Recv()
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return r, err
}

// Close ends the session.
func (s *Session) Close() error { return s.c.Close() }

func truncate(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}
