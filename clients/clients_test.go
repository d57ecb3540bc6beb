package clients_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tapline/clients"
	"tapline/commands"
	"tapline/config"
	"tapline/server"
)

func start(t *testing.T) (string, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg := config.Default()
	cfg.ManagerPort = port
	cfg.ManagerSocket = filepath.Join(t.TempDir(), "m.sock")
	s := server.New(cfg, commands.Default(), nil, nil)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return fmt.Sprintf("127.0.0.1:%d", port), cfg.ManagerSocket
}

func TestDo(t *testing.T) {
	tcp, sock := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, tr := range [][2]string{{"tcp", tcp}, {"unix", sock}} {
		b, err := clients.Do(ctx, tr[0], tr[1], "ping")
		if err != nil || string(b) != "pong\n" {
			t.Errorf("%s: %q %v", tr[0], b, err)
		}
	}
}

func TestDialErrorSaysWhere(t *testing.T) {
	_, err := clients.Do(context.Background(), "unix", "/nonexistent/x.sock", "ping")
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/x.sock") {
		t.Fatalf("error %v does not name the address", err)
	}
}

func TestSessionPipelining(t *testing.T) {
	tcp, _ := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := clients.Open(ctx, "tcp", tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 500
	go func() {
		for i := 0; i < n; i++ {
			cmd := "ping"
			if i%50 == 0 {
				cmd = "nosuch"
			}
			if _, err := s.Send(cmd, nil); err != nil {
				return
			}
		}
		_ = s.Flush()
	}()
	for i := 1; i <= n; i++ {
		r, err := s.Recv()
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if string(r.ID) != fmt.Sprint(i) {
			t.Fatalf("reply %d has id %s: out of order", i, r.ID)
		}
		var se *clients.ServerError
		if (i-1)%50 == 0 {
			if !errors.As(r.Err(), &se) || se.Code != "unknown_command" {
				t.Fatalf("reply %d: want unknown_command, got %+v", i, r)
			}
		} else if r.Err() != nil || string(r.Result) != `"pong"` {
			t.Fatalf("reply %d: %+v", i, r)
		}
	}
}
