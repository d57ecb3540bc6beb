package capture

import "tapline/sip"

// Handler receives packets; it must not keep Payload.
type Handler func(*sip.Packet)

// Stats are a source's counters; every dropped packet is counted somewhere.
type Stats struct {
	Packets      uint64 `json:"packets"`       // frames seen
	SIP          uint64 `json:"sip"`           // SIP payloads delivered
	NotSIP       uint64 `json:"not_sip"`       // frames on the SIP ports that were not SIP
	DecodeErrors uint64 `json:"decode_errors"` // frames that could not be decoded
	Drops        uint64 `json:"drops"`         // dropped by the kernel (live) or the source's queue
	TCPGaps      uint64 `json:"tcp_gaps"`      // TCP streams abandoned after a gap or an over-long message
	Duplicates   uint64 `json:"duplicates"`    // the same frame seen twice (loopback)

	Truncated      uint64 `json:"truncated"`       // frames on the SIP ports cut short by the snap length
	Fragments      uint64 `json:"fragments"`       // IP fragments taken for reassembly
	FragDrops      uint64 `json:"frag_drops"`      // fragments discarded: timed out, evicted, over the limits, or not for a SIP port
	TCPRetransmits uint64 `json:"tcp_retransmits"` // TCP segments whose bytes had all been seen already
	TCPEvicted     uint64 `json:"tcp_evicted"`     // open TCP flows dropped because the flow table or its memory budget was full
	TCPFlows       uint64 `json:"tcp_flows"`       // TCP flows tracked now (a gauge, not a counter)
}
