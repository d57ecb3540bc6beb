// Package capture turns packet sources (live AF_PACKET capture, pcap and
// pcapng replay, HEPv3 over UDP) into SIP payloads with their addresses and
// timestamps (sip.Packet), reassembling IP fragments and SIP over TCP. It
// owns the frame decoding (gopacket lives here and nowhere else on the
// sensor's path) and the sources' counters (Stats, HEPStats).
//
// It imports sip (the packet type, message framing) and config (the
// sipport set); it must not import state or sensor: what the packets feed is
// the sensor's business.
package capture
