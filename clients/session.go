package clients

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"

	"tapline/jsonobj"
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
	wbuf   []byte // Send's scratch
	// MaxBinary bounds a binary reply held in memory (default 256 MiB).
	MaxBinary int64
}

// Open starts a JSON session.
func Open(ctx context.Context, network, addr string) (*Session, error) {
	c, err := Dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return newSession(c, c, c), nil
}

// newSession wraps c in a session reading replies from r and writing
// requests to w (c itself, or its hardened framing).
func newSession(c net.Conn, r io.Reader, w io.Writer) *Session {
	return &Session{c: c, r: bufio.NewReaderSize(r, 64<<10), w: bufio.NewWriterSize(w, 64<<10), MaxBinary: 256 << 20}
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
	b := append(s.wbuf[:0], `{"id":`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `,"cmd":`...)
	b = jsonobj.AppendString(b, []byte(cmd))
	if args != nil {
		ab, err := json.Marshal(args)
		if err != nil {
			return 0, fmt.Errorf("encode args: %w", err)
		}
		b = append(append(b, `,"args":`...), ab...)
	}
	b = append(b, "}\n"...)
	s.wbuf = b
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
	var r Reply
	if err := s.RecvInto(&r); err != nil {
		return nil, err
	}
	r.ID = bytes.Clone(r.ID)
	r.Result = bytes.Clone(r.Result)
	return &r, nil
}

// RecvInto reads the next reply into r without allocating (a binary reply
// excepted). r.ID and r.Result point into the session's read buffer and
// stay valid only until the next call; r.Binary is r's own.
func (s *Session) RecvInto(r *Reply) error {
	line, err := s.r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return errors.New("reply line too long")
		}
		return fmt.Errorf("receive: %w", err)
	}
	*r = Reply{}
	var binary []byte
	it := jsonobj.Members(line)
	for {
		k, v, ok := it.Next()
		if !ok {
			break
		}
		switch {
		case jsonobj.KeyIs(k, "id"):
			r.ID = v
		case jsonobj.KeyIs(k, "result"):
			r.Result = v
		case jsonobj.KeyIs(k, "binary"):
			binary = v
		case jsonobj.KeyIs(k, "error"):
			r.Error = text(v)
		case jsonobj.KeyIs(k, "code"):
			r.Code = text(v)
		}
	}
	if it.Err() != nil {
		return fmt.Errorf("receive: invalid JSON reply %q", truncate(line))
	}
	if binary != nil {
		n, err := strconv.ParseInt(string(binary), 10, 64)
		if err != nil || n < 0 || n > s.MaxBinary {
			return fmt.Errorf("binary reply of %s bytes exceeds the limit or is not a size", binary)
		}
		r.Binary = make([]byte, n)
		if _, err := io.ReadFull(s.r, r.Binary); err != nil {
			return fmt.Errorf("receive binary: %w", err)
		}
	}
	return nil
}

// text is a reply's string field; the empty error of a success costs
// nothing.
func text(v []byte) string {
	if string(v) == `""` {
		return ""
	}
	b, ok := jsonobj.String(nil, v)
	if !ok {
		return string(v)
	}
	return string(b)
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
