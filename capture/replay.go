package capture

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// ReplayOptions say what to replay and how fast.
type ReplayOptions struct {
	Path string // a pcap or pcapng file (gzip-compressed pcap too); the format is detected
	// Speed: 0 = as fast as possible; 1 = real time; N = N times faster
	// (the gaps between packet timestamps are slept, divided by N).
	Speed float64
	// Loop starts again at the end of the file until ctx is done. Packet
	// times are shifted on every pass so that they keep moving forward (the
	// sensor's clock follows them), and the decoder's TCP and fragment state
	// is reset so the same connections are seen as new.
	Loop bool
	// OnLoop, if set, is called at the end of each pass before the next one
	// starts, with the number of passes completed so far (1, 2, ...).
	OnLoop func(n int)
}

// packetSource is what both pcapgo readers offer without a copy per packet.
type packetSource interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// Replay feeds the frames of a capture file to d. It returns nil at the end
// of the file (without Loop) or when ctx is done, and an error if the file
// cannot be read. A truncated last record, common in files copied while
// being written, ends the pass like EOF.
func Replay(ctx context.Context, opt ReplayOptions, d *Decoder) error {
	if opt.Speed < 0 {
		return fmt.Errorf("replay: negative speed %v", opt.Speed)
	}
	f, err := os.Open(opt.Path)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	defer f.Close()

	var (
		shift     time.Duration // added to packet times on later passes
		firstTS   time.Time     // of the whole replay, for pacing
		wallStart time.Time
		timer     *time.Timer
	)
	br := bufio.NewReaderSize(f, 1<<20) // one buffer for every pass
	for pass := 1; ; pass++ {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		br.Reset(f)
		src, linkType, err := openCapture(br)
		if err != nil {
			return fmt.Errorf("replay %s: %w", opt.Path, err)
		}
		var passFirst, passLast time.Time
		for n := 0; ; n++ {
			if n&1023 == 0 && ctx.Err() != nil {
				return nil
			}
			data, ci, err := src.ZeroCopyReadPacketData()
			if err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					break
				}
				return fmt.Errorf("replay %s: %w", opt.Path, err)
			}
			if passFirst.IsZero() {
				passFirst = ci.Timestamp
			}
			passLast = ci.Timestamp
			ts := ci.Timestamp.Add(shift)
			if opt.Speed > 0 {
				if firstTS.IsZero() {
					firstTS, wallStart = ts, time.Now()
				}
				due := wallStart.Add(time.Duration(float64(ts.Sub(firstTS)) / opt.Speed))
				if wait := time.Until(due); wait > time.Millisecond {
					if timer == nil {
						timer = time.NewTimer(wait)
					} else {
						timer.Reset(wait)
					}
					select {
					case <-ctx.Done():
						timer.Stop()
						return nil
					case <-timer.C:
					}
				}
			}
			lt := linkType
			if len(ci.AncillaryData) > 0 {
				// pcapng: each interface has its own link type.
				if l, ok := ci.AncillaryData[0].(layers.LinkType); ok {
					lt = l
				}
			}
			d.Decode(lt, data, ts, -1)
		}
		if !opt.Loop || ctx.Err() != nil {
			return nil
		}
		if opt.OnLoop != nil {
			opt.OnLoop(pass)
		}
		d.Reset()
		// The next pass starts just after this one ended, in packet time.
		shift += passLast.Sub(passFirst) + time.Millisecond
		if passFirst.IsZero() {
			// An empty file would spin: wait a little between passes.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// openCapture detects pcap or pcapng by the file's magic number.
func openCapture(r *bufio.Reader) (packetSource, layers.LinkType, error) {
	magic, err := r.Peek(4)
	if err != nil {
		return nil, 0, fmt.Errorf("not a capture file: %w", err)
	}
	if binary.LittleEndian.Uint32(magic) == 0x0a0d0d0a {
		ng, err := pcapgo.NewNgReader(r, pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: true})
		if err != nil {
			return nil, 0, err
		}
		return ng, layers.LinkTypeEthernet, nil // each packet names its interface's type
	}
	pr, err := pcapgo.NewReader(r)
	if err != nil {
		return nil, 0, err
	}
	return pr, pr.LinkType(), nil
}
