package server

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"tapline/clients"
	"tapline/commands"
	"tapline/config"
	"tapline/crypto"
	"tapline/keyring"
)

// blobTable adds a "blob N" command that replies N bytes, so benchmarks can
// measure reply sizes without the test-only build tag.
func blobTable() *commands.Table {
	t := commands.Default()
	t.Register(commands.Command{Name: "blob", Level: commands.LimitedRead, Plaintext: true, Inline: true, Hidden: true,
		Params: []commands.Param{{Name: "size"}},
		Handler: func(req *commands.Request, rep *commands.Reply) {
			var n int64
			fmt.Sscan(string(req.Arg(0)), &n)
			rep.Kind, rep.Size = commands.Binary, n
			rep.Stream = func(w io.Writer) error {
				buf := make([]byte, min(n, 64<<10))
				for left := n; left > 0; {
					m, err := w.Write(buf[:min(left, int64(len(buf)))])
					if err != nil {
						return err
					}
					left -= int64(m)
				}
				return nil
			}
		}})
	return t
}

// BenchmarkReplyCrypto compares one-shot requests in plaintext, legacy
// AES-CBC and hardened frames for 1 KiB and 1 MiB replies (MB/s = reply
// bytes delivered and decrypted by the client).
func BenchmarkReplyCrypto(b *testing.B) {
	key, err := crypto.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	cfg := config.Default()
	cfg.ManagerPort = freePort(b)
	cfg.ManagerSocket = filepath.Join(b.TempDir(), "m.sock")
	ring := keyring.New(cfg.KeyGrace)
	ring.Static(key)
	s := New(cfg, blobTable(), ring, nil)
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	addr := fmt.Sprintf("127.0.0.1:%d", cfg.ManagerPort)
	modes := []struct {
		name string
		mode clients.Crypto
	}{{"plain", clients.Plain}, {"legacy", clients.Legacy}, {"hardened", clients.Hardened}}
	for _, size := range []int64{1 << 10, 1 << 20} {
		for _, m := range modes {
			b.Run(fmt.Sprintf("%s/%dKiB", m.name, size>>10), func(b *testing.B) {
				b.SetBytes(size)
				for b.Loop() {
					n, err := clients.DoSecure(context.Background(), "tcp", addr, m.mode, key, fmt.Sprint("blob ", size), io.Discard)
					if err != nil || n != size {
						b.Fatalf("got %d bytes, err %v", n, err)
					}
				}
			})
		}
	}
}
