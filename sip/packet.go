package sip

import (
	"net/netip"
	"time"
)

// Transport of a SIP payload.
type Transport uint8

const (
	UDP Transport = iota
	TCP
)

// Packet is one SIP message (UDP datagram, or one complete message cut out
// of a TCP stream) with its network context. Capture sources produce it and
// the state tables consume it; it lives here so that neither side imports
// the other. Payload is only valid during the call that receives the packet.
type Packet struct {
	TS        time.Time // capture time: the sensor's clock follows it during replay
	Src, Dst  netip.AddrPort
	Transport Transport
	VLAN      int // 802.1Q VLAN id, -1 when untagged
	Payload   []byte
}
