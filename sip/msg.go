package sip

// Msg is one parsed SIP message. Byte slices point into the parsed buffer.
type Msg struct {
	IsRequest  bool
	Method     []byte // requests: INVITE, ACK, BYE, CANCEL, REGISTER, ...; responses: the CSeq method
	RequestURI []byte
	Status     int    // responses: 100..699
	Reason     []byte // responses: reason phrase

	CallID         []byte
	From           NameAddr
	To             NameAddr
	CSeq           uint32
	CSeqMethod     []byte
	Via            []byte // first Via header value (branch is in ViaBranch)
	ViaBranch      []byte
	Contact        NameAddr
	ContactExpires int    // expires parameter of the first Contact, -1 when absent
	Expires        int    // Expires header, -1 when absent
	UserAgent      []byte // User-Agent (requests) or Server (responses) header
	DigestUser     []byte // Authorization / Proxy-Authorization: username="..."
	DigestRealm    []byte // realm="..."
	ContentType    []byte
	ContentLength  int    // -1 when absent
	Body           []byte // exactly ContentLength bytes when known, else the rest of the buffer

	SDP SDP // parsed when ContentType is application/sdp
}

// NameAddr is a From/To/Contact value: "Name" <sip:user@domain;params>;tag=x
type NameAddr struct {
	Display []byte // display name without quotes
	User    []byte // user part of the URI (caller/called number)
	Domain  []byte // host part of the URI, without port
	Tag     []byte // tag parameter
	URI     []byte // the whole URI
}

// SDP holds what a sensor needs from a session description.
type SDP struct {
	Valid  bool
	ConnIP []byte // c= address (session level, or the first audio media's)
	Media  [4]Media
	NMedia int
}

// Media is one m= line.
type Media struct {
	Type     []byte // audio, video, ...
	Port     int
	ConnIP   []byte // media-level c=, else the session's
	Payloads [8]int // RTP payload types in order (first is the preferred codec)
	NPayload int
}
