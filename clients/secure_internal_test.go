package clients

import (
	"bufio"
	"errors"
	"strings"
	"testing"
)

func TestPlainReplyError(t *testing.T) {
	err := plainReplyError(bufio.NewReader(strings.NewReader("need aes!\n")))
	if !errors.Is(err, ErrPlainReply) {
		t.Fatalf("%v does not wrap ErrPlainReply", err)
	}
	if want := `server replied without encryption: "need aes!"`; err.Error() != want {
		t.Fatalf("error = %q, want %q", err, want)
	}
}
