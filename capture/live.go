//go:build linux

package capture

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// LiveOptions say where and how to capture.
type LiveOptions struct {
	// Interface to capture on; "any" (or "") captures on all interfaces in
	// cooked mode: frames start at the IP header, whatever the link.
	Interface string
	// SnapLen bytes of each frame are kept (0 = 262144, enough for the
	// 64 KiB segments that offloads hand to AF_PACKET).
	SnapLen int
	// BPF is an optional kernel filter, compiled: the output of
	// `tcpdump -ddd` or `tcpdump -dd` for the same kind of link (Ethernet;
	// for "any", the offsets of a raw-IP link). Filter expressions need
	// libpcap, which this cgo-free build does not have.
	BPF string
	// NoPromisc leaves the interface out of promiscuous mode. By default a
	// named interface is made promiscuous for as long as the socket is open
	// (a membership the kernel drops with the socket), because a sensor on
	// a mirror port sees frames addressed to other hosts. "any" cannot be.
	NoPromisc bool
	// RingMiB is the size of the kernel ring (0 = 64 MiB). A bigger ring
	// absorbs longer bursts before the kernel drops.
	RingMiB int
	// Ready, if set, is called once the socket is bound and filtered:
	// frames sent after it are captured.
	Ready func()
}

const (
	defaultSnapLen  = 262144
	ringBlockSize   = 1 << 20 // holds the largest frame; a multiple of the page size
	statsEvery      = time.Second
	arphrdEther     = 1
	arphrdLoopback  = 772
	packetOutgoing  = 4 // PACKET_OUTGOING, skb->pkt_type of a frame being sent
	duplicateMarker = 1 // capture length the filter gives a loopback frame's outgoing copy
)

// Live captures on an interface with an AF_PACKET TPACKET_V3 ring and feeds
// d until ctx is done (then it returns nil) or the capture fails.
//
// On a loopback interface every frame passes the tap twice, once going out
// and once coming in. A kernel filter placed before the caller's cuts the
// outgoing copy to one byte: it still costs a ring slot, but it is told apart
// exactly (no hashing or time windows) and counted in Stats.Duplicates, not
// in Stats.Packets. Kernel drops (ring full) are added to Stats.Drops every
// second; on loopback they include the dropped outgoing copies.
func Live(ctx context.Context, opt LiveOptions, d *Decoder) error {
	allIfs := opt.Interface == "" || opt.Interface == "any"
	snap := opt.SnapLen
	if snap <= 0 {
		snap = defaultSnapLen
	}
	if snap > ringBlockSize-4096 {
		snap = ringBlockSize - 4096
	}
	ring := opt.RingMiB
	if ring <= 0 {
		ring = 64
	}
	linkType := layers.LinkTypeEthernet
	sockType := afpacket.SocketRaw
	var tpOpts []any
	if allIfs {
		linkType, sockType = layers.LinkTypeRaw, afpacket.SocketDgram
	} else {
		tpOpts = append(tpOpts, afpacket.OptInterface(opt.Interface))
		if t := arphrd(opt.Interface); t != 0 && t != arphrdEther && t != arphrdLoopback {
			// Tunnels, WireGuard, PPP: no Ethernet header to parse; the
			// cooked socket starts every frame at the IP header.
			linkType, sockType = layers.LinkTypeRaw, afpacket.SocketDgram
		}
	}
	user, err := parseBPF(opt.BPF, snap)
	if err != nil {
		return err
	}
	tpOpts = append(tpOpts,
		sockType,
		afpacket.TPacketVersion3,
		afpacket.OptBlockSize(ringBlockSize),
		afpacket.OptFrameSize(4096),
		afpacket.OptNumBlocks(ring),
		afpacket.OptBlockTimeout(10*time.Millisecond), // latency of a quiet link
		afpacket.OptPollTimeout(100*time.Millisecond), // how soon ctx is noticed
	)
	tp, err := afpacket.NewTPacket(tpOpts...)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return fmt.Errorf("live capture on %q needs root or CAP_NET_RAW (AF_PACKET socket): %w", opt.Interface, err)
		}
		return fmt.Errorf("live capture on %q: %w", opt.Interface, err)
	}
	defer tp.Close()
	if err := tp.SetBPF(filterProgram(user, snap)); err != nil {
		return fmt.Errorf("live capture on %q: attaching the BPF filter: %w", opt.Interface, err)
	}
	if !allIfs && !opt.NoPromisc {
		if err := tp.SetPromiscuous(true); err != nil {
			return fmt.Errorf("live capture on %q: promiscuous mode: %w", opt.Interface, err)
		}
	}
	if opt.Ready != nil {
		opt.Ready()
	}

	var lastDrops uint64
	lastStats := time.Now()
	pollStats := func() {
		_, s3, err := tp.SocketStats()
		if err != nil {
			return
		}
		if drops := uint64(s3.Drops()); drops > lastDrops {
			d.c.drops.Add(drops - lastDrops)
			lastDrops = drops
		}
	}
	defer pollStats()
	for n := 0; ; n++ {
		data, ci, err := tp.ZeroCopyReadPacketData()
		if n&255 == 0 || err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if time.Since(lastStats) >= statsEvery {
				lastStats = time.Now()
				pollStats()
			}
		}
		if err != nil {
			if errors.Is(err, afpacket.ErrTimeout) || errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("live capture on %q: %w", opt.Interface, err)
		}
		if len(data) == duplicateMarker && ci.Length > duplicateMarker {
			d.c.duplicates.Add(1)
			continue
		}
		vlan := -1
		for _, a := range ci.AncillaryData {
			if v, ok := a.(afpacket.AncillaryVLAN); ok {
				vlan = v.VLAN
			}
		}
		d.Decode(linkType, data, ci.Timestamp, vlan)
	}
}

// filterProgram puts the loopback duplicate marker in front of the caller's
// filter (or of "accept snap bytes").
func filterProgram(user []bpf.RawInstruction, snap int) []bpf.RawInstruction {
	prefix, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtLinkLayerType},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: arphrdLoopback, SkipTrue: 3},
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: packetOutgoing, SkipTrue: 1},
		bpf.RetConstant{Val: duplicateMarker},
	})
	if err != nil {
		panic(err) // a constant program
	}
	if len(user) == 0 {
		accept, _ := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: uint32(snap)}})
		user = accept
	}
	// The caller's jumps are relative, so the program runs unchanged after
	// the prefix.
	return append(prefix, user...)
}

// parseBPF reads `tcpdump -ddd` (a count, then "code jt jf k" lines) or
// `tcpdump -dd` ("{ 0x28, 0, 0, 0x0000000c },") output. Accepting returns
// are capped at snap, which is how the snap length is applied.
func parseBPF(s string, snap int) ([]bpf.RawInstruction, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var nums []uint64
	for _, f := range strings.FieldsFunc(s, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F' || r == 'x' || r == 'X')
	}) {
		n, err := strconv.ParseUint(f, 0, 32)
		if err != nil {
			return nil, fmt.Errorf("BPF: %q is not a number: give compiled instructions (tcpdump -ddd), not a filter expression", f)
		}
		nums = append(nums, n)
	}
	switch {
	case len(nums)%4 == 1 && nums[0] == uint64(len(nums)/4):
		nums = nums[1:]
	case len(nums)%4 == 0 && len(nums) > 0:
	default:
		return nil, errors.New("BPF: want tcpdump -ddd or -dd output (four numbers per instruction)")
	}
	prog := make([]bpf.RawInstruction, 0, len(nums)/4)
	for i := 0; i < len(nums); i += 4 {
		if nums[i] > 0xffff || nums[i+1] > 0xff || nums[i+2] > 0xff {
			return nil, fmt.Errorf("BPF: instruction %d is out of range", i/4)
		}
		ins := bpf.RawInstruction{Op: uint16(nums[i]), Jt: uint8(nums[i+1]), Jf: uint8(nums[i+2]), K: uint32(nums[i+3])}
		if ins.Op == unix.BPF_RET|unix.BPF_K && ins.K > uint32(snap) {
			ins.K = uint32(snap)
		}
		prog = append(prog, ins)
	}
	if len(prog) > 4096-8 { // BPF_MAXINSNS, less room for the prefix
		return nil, fmt.Errorf("BPF: %d instructions, too many", len(prog))
	}
	return prog, nil
}

// arphrd returns an interface's hardware type (ARPHRD_*), or 0 when sysfs
// cannot tell (then Ethernet is assumed).
func arphrd(name string) int {
	b, err := os.ReadFile("/sys/class/net/" + name + "/type")
	if err != nil {
		return 0
	}
	t, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return t
}
