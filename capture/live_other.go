//go:build !linux

package capture

import (
	"context"
	"errors"
)

// LiveOptions say where and how to capture (see live.go; Linux only).
type LiveOptions struct {
	Interface string
	SnapLen   int
	BPF       string
	NoPromisc bool
	RingMiB   int
	Ready     func()
}

// Live needs AF_PACKET, which only Linux has.
func Live(ctx context.Context, opt LiveOptions, d *Decoder) error {
	return errors.New("live capture needs Linux (AF_PACKET); use replay or HEP")
}
