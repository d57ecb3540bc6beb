package e2e

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Helpers of the sensor tests (sensor_test.go): capture-file analysis done
// independently of tapline's own decoder and SIP parser, pcap writing, SIP
// message building, listing parsing, sipp processes.

var updateGolden = flag.Bool("update", false, "rewrite the golden files under e2e/testdata")

// ---- sniffer_stat ----

// captureStats returns sniffer_stat's "capture" object.
func captureStats(t testing.TB, s *server) map[string]uint64 {
	t.Helper()
	raw := s.request(t, "tcp", "sniffer_stat\n")
	var v struct {
		Capture map[string]uint64 `json:"capture"`
	}
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		t.Fatalf("sniffer_stat is not JSON: %v: %q", err, clip([]byte(raw), 300))
	}
	if v.Capture == nil {
		t.Fatalf("sniffer_stat has no capture object: %q", clip([]byte(raw), 2000))
	}
	return v.Capture
}

// waitSIPMessages waits until capture.sip_messages equals want and stayed
// there for a few polls (the counter moves before the message is applied to
// the tables; the settling polls cover that). More than want fails at once.
func waitSIPMessages(t testing.TB, s *server, want uint64, limit time.Duration) map[string]uint64 {
	t.Helper()
	var st map[string]uint64
	stable := 0
	waitUntil(t, limit, fmt.Sprintf("capture.sip_messages settling at %d", want), func() (bool, string) {
		st = captureStats(t, s)
		got := st["sip_messages"]
		if got > want {
			t.Fatalf("capture.sip_messages = %d, more than the %d SIP messages sent (capture: %v)", got, want, st)
		}
		if got == want {
			stable++
		} else {
			stable = 0
		}
		return stable >= 4, fmt.Sprintf("capture %v", st)
	})
	return st
}

// waitCaptureUp waits until a live capture counts frames: every manager
// request is loopback traffic, so once the AF_PACKET socket is bound the
// packets counter moves.
func waitCaptureUp(t testing.TB, s *server) {
	t.Helper()
	waitUntil(t, 10*time.Second, "live capture on lo counting frames", func() (bool, string) {
		st := captureStats(t, s)
		return st["packets"] > 0, fmt.Sprintf("capture %v", st)
	})
}

// ---- listings ----

// listing is a parsed listcalls/listregisters array reply.
type listing struct {
	raw     string
	header  []string
	summary map[string]any   // the [{...}] element, nil when absent
	rows    []map[string]any // by column name; numbers are json.Number
}

func parseListing(t testing.TB, raw string) listing {
	t.Helper()
	var elems []json.RawMessage
	if err := json.Unmarshal([]byte(raw), &elems); err != nil {
		t.Fatalf("listing is not a JSON array: %v: %q", err, clip([]byte(raw), 300))
	}
	if len(elems) == 0 {
		t.Fatalf("listing is an empty array")
	}
	l := listing{raw: raw}
	if err := json.Unmarshal(elems[0], &l.header); err != nil {
		t.Fatalf("listing header is not an array of strings: %v: %s", err, clip(elems[0], 300))
	}
	elems = elems[1:]
	if len(elems) > 0 && bytes.HasPrefix(bytes.TrimSpace(elems[0]), []byte("[{")) {
		var sum []map[string]any
		if err := decodeNumbers(elems[0], &sum); err != nil || len(sum) != 1 {
			t.Fatalf("listing summary %s: %v", elems[0], err)
		}
		l.summary = sum[0]
		elems = elems[1:]
	}
	for i, e := range elems {
		var row []any
		if err := decodeNumbers(e, &row); err != nil {
			t.Fatalf("listing row %d: %v: %s", i, err, clip(e, 300))
		}
		if len(row) != len(l.header) {
			t.Fatalf("listing row %d has %d values, the header %d columns: %s", i, len(row), len(l.header), clip(e, 300))
		}
		m := make(map[string]any, len(row))
		for j, v := range row {
			m[l.header[j]] = v
		}
		l.rows = append(l.rows, m)
	}
	return l
}

func decodeNumbers(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

// col renders a value for comparisons: strings as they are, numbers in
// their JSON text, null as "null".
func col(row map[string]any, name string) string {
	v, ok := row[name]
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case nil:
		if !ok {
			return "<missing column " + name + ">"
		}
		return "null"
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

// checkCols compares the named columns of a row.
func checkCols(t testing.TB, label string, row map[string]any, want map[string]string) {
	t.Helper()
	names := make([]string, 0, len(want))
	for k := range want {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if got := col(row, k); got != want[k] {
			t.Errorf("%s: column %s = %s, want %s", label, k, got, want[k])
		}
	}
}

func rowsByCol(t testing.TB, l listing, name string) map[string]map[string]any {
	t.Helper()
	out := make(map[string]map[string]any, len(l.rows))
	for _, r := range l.rows {
		k := col(r, name)
		if _, dup := out[k]; dup {
			t.Errorf("two rows with %s %s", name, k)
		}
		out[k] = r
	}
	return out
}

func colValues(l listing, name string) []string {
	out := make([]string, len(l.rows))
	for i, r := range l.rows {
		out[i] = col(r, name)
	}
	return out
}

// ipNum is VoIPmonitor's encoding of an IPv4 address: the host-order value
// as an unsigned integer.
func ipNum(s string) string {
	a := netip.MustParseAddr(s).As4()
	return strconv.FormatUint(uint64(binary.BigEndian.Uint32(a[:])), 10)
}

var refRE = regexp.MustCompile(`"0x[0-9a-f]+"`)

// normaliseRefs replaces callreferences, which start at a random base in
// every process, by a placeholder.
func normaliseRefs(b string) string { return refRE.ReplaceAllString(b, `"0xREF"`) }

// checkGolden compares got with testdata/name, or writes it with -update.
func checkGolden(t testing.TB, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", path, len(got))
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file: %v (run with -update to create it)", err)
	}
	if d := diffBytes([]byte(got), want); d != "" {
		t.Errorf("%s differs from the golden file (run with -update if the change is intended): %s", name, d)
	}
}

// ---- capture files, read without tapline's code ----

// capMsg is one SIP message found in a capture file.
type capMsg struct {
	TS         time.Time
	Src, Dst   netip.AddrPort
	Request    bool
	Method     string // request method
	Status     int    // response status
	CallID     string
	CSeqMethod string
	Headers    map[string]string // lower-case name → first value
	Body       string
}

// readCaptureSIP returns the UDP SIP messages of a pcap or pcapng file (on
// any port: the tests' captures hold nothing else).
func readCaptureSIP(t testing.TB, path string) []capMsg {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	magic, err := r.Peek(4)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	type source interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	var src source
	link := layers.LinkTypeEthernet
	if binary.LittleEndian.Uint32(magic) == 0x0a0d0d0a {
		ng, err := pcapgo.NewNgReader(r, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		src, link = ng, ng.LinkType()
	} else {
		pr, err := pcapgo.NewReader(r)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		src, link = pr, pr.LinkType()
	}
	var out []capMsg
	for {
		data, ci, err := src.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		pkt := gopacket.NewPacket(data, link, gopacket.Default)
		ip4, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		udp, _ := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if ip4 == nil || udp == nil {
			t.Fatalf("%s: frame at %v is not IPv4/UDP", path, ci.Timestamp)
		}
		m, ok := parseSIPText(string(udp.Payload))
		if !ok {
			t.Fatalf("%s: frame at %v does not hold SIP: %q", path, ci.Timestamp, clip(udp.Payload, 80))
		}
		m.TS = ci.Timestamp
		m.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip4.SrcIP.To4())), uint16(udp.SrcPort))
		m.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip4.DstIP.To4())), uint16(udp.DstPort))
		out = append(out, m)
	}
	return out
}

// parseSIPText is a deliberately small SIP reader: start line, headers,
// body.
func parseSIPText(s string) (capMsg, bool) {
	head, body, _ := strings.Cut(s, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	m := capMsg{Headers: map[string]string{}, Body: body}
	f := strings.Fields(lines[0])
	switch {
	case len(f) >= 2 && f[0] == "SIP/2.0":
		n, err := strconv.Atoi(f[1])
		if err != nil {
			return m, false
		}
		m.Status = n
	case len(f) == 3 && f[2] == "SIP/2.0":
		m.Request, m.Method = true, f[0]
	default:
		return m, false
	}
	short := map[string]string{"i": "call-id", "f": "from", "t": "to", "m": "contact", "v": "via", "l": "content-length", "c": "content-type"}
	for _, l := range lines[1:] {
		name, val, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if long, ok := short[name]; ok {
			name = long
		}
		if _, seen := m.Headers[name]; !seen {
			m.Headers[name] = strings.TrimSpace(val)
		}
	}
	m.CallID = m.Headers["call-id"]
	if f := strings.Fields(m.Headers["cseq"]); len(f) == 2 {
		m.CSeqMethod = f[1]
	}
	return m, m.CallID != ""
}

// uriUser returns the user part of the first SIP URI in a header value.
func uriUser(h string) string {
	_, rest, ok := strings.Cut(h, "sip:")
	if !ok {
		return ""
	}
	user, _, ok := strings.Cut(rest, "@")
	if !ok {
		return ""
	}
	return user
}

// capCall is a call as the capture file tells it.
type capCall struct {
	CallID                   string
	Caller, Called           string
	CallerAddr, CalledAddr   netip.AddrPort
	Invite, Connect, End     time.Time // End: BYE, CANCEL or a final error; zero if none
	Last                     time.Time
	CallerCodec, CalledCodec string // first payload type of each side's SDP
	CallerRTP, CalledRTP     string // c= address of each side's SDP
	Msgs                     int
}

// callsOf groups a capture's messages into calls by Call-ID (REGISTER
// dialogs excluded), in order of their INVITEs.
func callsOf(msgs []capMsg) []*capCall {
	var order []*capCall
	byID := map[string]*capCall{}
	for _, m := range msgs {
		if m.CSeqMethod == "REGISTER" {
			continue
		}
		c := byID[m.CallID]
		if c == nil {
			if !m.Request || m.Method != "INVITE" {
				continue
			}
			c = &capCall{CallID: m.CallID, Caller: uriUser(m.Headers["from"]), Called: uriUser(m.Headers["to"]),
				CallerAddr: m.Src, CalledAddr: m.Dst, Invite: m.TS}
			byID[m.CallID] = c
			order = append(order, c)
		}
		c.Msgs++
		c.Last = m.TS
		if pt, ip := sdpAudio(m.Body); pt != "" {
			if m.Src == c.CallerAddr {
				c.CallerCodec, c.CallerRTP = pt, ip
			} else {
				c.CalledCodec, c.CalledRTP = pt, ip
			}
		}
		switch {
		case m.Request && (m.Method == "BYE" || m.Method == "CANCEL") && c.End.IsZero():
			c.End = m.TS
		case !m.Request && m.CSeqMethod == "INVITE" && m.Status >= 200 && m.Status < 300 && c.Connect.IsZero():
			c.Connect = m.TS
		case !m.Request && m.CSeqMethod == "INVITE" && m.Status >= 300 && c.End.IsZero() && c.Connect.IsZero():
			c.End = m.TS
		}
	}
	return order
}

// sdpAudio returns the first payload type of the first m=audio line and
// the session's c= address (the tests' SDP has no per-media c=).
func sdpAudio(body string) (pt, ip string) {
	for _, l := range strings.Split(body, "\r\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 3 && f[0] == "c=IN" && f[1] == "IP4" && ip == "":
			ip = f[2]
		case len(f) >= 4 && f[0] == "m=audio" && pt == "":
			pt = f[3]
		}
	}
	return pt, ip
}

// listedAt returns the calls a sensor lists at clock now: those not ended,
// and those that ended less than linger ago.
func listedAt(calls []*capCall, now time.Time, linger time.Duration) []*capCall {
	var out []*capCall
	for _, c := range calls {
		if c.Invite.After(now) {
			continue
		}
		if c.End.IsZero() || c.End.After(now) || c.End.Add(linger).After(now) {
			out = append(out, c)
		}
	}
	return out
}

// capReg is one registration binding as the capture file tells it.
type capReg struct {
	User         string
	UA           string
	Src, Dst     netip.AddrPort
	Request, OK  time.Time
	Expires      int
	ContactUser  string
	FromDisplay  string
	Transactions int
}

// regsOf pairs REGISTERs with their 2xx by Call-ID.
func regsOf(t testing.TB, msgs []capMsg) []*capReg {
	t.Helper()
	var order []*capReg
	byID := map[string]*capReg{}
	for _, m := range msgs {
		if m.CSeqMethod != "REGISTER" {
			continue
		}
		if m.Request {
			r := &capReg{User: uriUser(m.Headers["to"]), UA: m.Headers["user-agent"], Src: m.Src, Dst: m.Dst,
				Request: m.TS, ContactUser: uriUser(m.Headers["contact"]), Expires: -1}
			if d, _, ok := strings.Cut(m.Headers["from"], "<"); ok {
				r.FromDisplay = strings.Trim(strings.TrimSpace(d), `"`)
			}
			if _, e, ok := strings.Cut(m.Headers["contact"], "expires="); ok {
				n, err := strconv.Atoi(strings.TrimSpace(strings.Split(e, ";")[0]))
				if err != nil {
					t.Fatalf("REGISTER Contact %q: bad expires", m.Headers["contact"])
				}
				r.Expires = n
			}
			byID[m.CallID] = r
			order = append(order, r)
			continue
		}
		if r := byID[m.CallID]; r != nil && m.Status/100 == 2 && r.OK.IsZero() {
			r.OK = m.TS
		}
	}
	return order
}

// ---- crafted SIP and capture files ----

// sipCall describes one call whose messages the tests build.
type sipCall struct {
	CallID                 string
	Caller, Called         string
	Domain                 string
	CallerAddr, CalledAddr netip.AddrPort
	CallerRTP, CalledRTP   netip.AddrPort
	CallerPTs, CalledPTs   []int
	UserAgent, Server      string
}

func sdpBody(rtp netip.AddrPort, pts []int) string {
	ids := make([]string, len(pts))
	for i, p := range pts {
		ids[i] = strconv.Itoa(p)
	}
	return "v=0\r\n" +
		"o=- 1 1 IN IP4 " + rtp.Addr().String() + "\r\n" +
		"s=-\r\n" +
		"c=IN IP4 " + rtp.Addr().String() + "\r\n" +
		"t=0 0\r\n" +
		"m=audio " + strconv.Itoa(int(rtp.Port())) + " RTP/AVP " + strings.Join(ids, " ") + "\r\n"
}

// sipMessage assembles a message with Content-Length (and Content-Type when
// there is a body).
func sipMessage(start string, headers []string, body string) string {
	var b strings.Builder
	b.WriteString(start + "\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	if body != "" {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.String()
}

func (c *sipCall) dialogHeaders(cseq string, toTag bool) []string {
	to := fmt.Sprintf("<sip:%s@%s>", c.Called, c.Domain)
	if toTag {
		to += ";tag=callee-" + c.CallID
	}
	return []string{
		"Via: SIP/2.0/UDP " + c.CallerAddr.String() + ";branch=z9hG4bK-" + strings.ReplaceAll(c.CallID, "@", "-") + "-" + strings.Fields(cseq)[0],
		fmt.Sprintf("From: \"%s\" <sip:%s@%s>;tag=caller-%s", strings.ToUpper(c.Caller), c.Caller, c.Domain, c.CallID),
		"To: " + to,
		"Call-ID: " + c.CallID,
		"CSeq: " + cseq,
		"Max-Forwards: 70",
	}
}

func (c *sipCall) invite() string {
	h := append(c.dialogHeaders("1 INVITE", false), "Contact: <sip:"+c.Caller+"@"+c.CallerAddr.String()+">")
	if c.UserAgent != "" {
		h = append(h, "User-Agent: "+c.UserAgent)
	}
	return sipMessage(fmt.Sprintf("INVITE sip:%s@%s SIP/2.0", c.Called, c.Domain), h, sdpBody(c.CallerRTP, c.CallerPTs))
}

func (c *sipCall) response(status string, cseq string, sdp bool) string {
	h := append(c.dialogHeaders(cseq, true), "Contact: <sip:"+c.Called+"@"+c.CalledAddr.String()+">")
	if c.Server != "" {
		h = append(h, "Server: "+c.Server)
	}
	body := ""
	if sdp {
		body = sdpBody(c.CalledRTP, c.CalledPTs)
	}
	return sipMessage("SIP/2.0 "+status, h, body)
}

func (c *sipCall) ringing() string { return c.response("180 Ringing", "1 INVITE", false) }
func (c *sipCall) ok() string      { return c.response("200 OK", "1 INVITE", true) }
func (c *sipCall) byeOK() string   { return c.response("200 OK", "2 BYE", false) }

func (c *sipCall) ack() string {
	return sipMessage(fmt.Sprintf("ACK sip:%s@%s SIP/2.0", c.Called, c.CalledAddr), c.dialogHeaders("1 ACK", true), "")
}

func (c *sipCall) bye() string {
	return sipMessage(fmt.Sprintf("BYE sip:%s@%s SIP/2.0", c.Called, c.CalledAddr), c.dialogHeaders("2 BYE", true), "")
}

// frame is one UDP datagram to write into a capture file.
type frame struct {
	TS       time.Time
	Src, Dst netip.AddrPort
	Payload  string
}

// writePcap writes frames as Ethernet/IPv4/UDP into a nanosecond pcap.
func writePcap(t testing.TB, path string, frames []frame) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriterNanos(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	for _, fr := range frames {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2},
			EthernetType: layers.EthernetTypeIPv4}
		src, dst := fr.Src.Addr().As4(), fr.Dst.Addr().As4()
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src[:], DstIP: dst[:]}
		udp := &layers.UDP{SrcPort: layers.UDPPort(fr.Src.Port()), DstPort: layers.UDPPort(fr.Dst.Port())}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload(fr.Payload)); err != nil {
			t.Fatal(err)
		}
		data := buf.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: fr.TS, CaptureLength: len(data), Length: len(data)}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
}

// ---- UDP ports and sipp ----

// freeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago.
func freeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("freeUDPPort: %v", err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	if err := c.Close(); err != nil {
		t.Fatalf("freeUDPPort: %v", err)
	}
	return port
}

// udpBound reports whether some socket is bound to UDP 127.0.0.1:port (or
// the wildcard address), reading /proc/net/udp so that probing cannot take
// the port away from the process starting up.
func udpBound(port int) bool {
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return false
	}
	suffix := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		if (f[1] == "0100007F"+suffix || f[1] == "00000000"+suffix) && f[1] != "" {
			return true
		}
	}
	return false
}

func waitUDPBound(t testing.TB, port int, who string) {
	t.Helper()
	waitUntil(t, 10*time.Second, fmt.Sprintf("%s bound to UDP 127.0.0.1:%d", who, port), func() (bool, string) {
		return udpBound(port), "not in /proc/net/udp"
	})
}

// requireRoot skips live-capture tests when not root.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("live capture needs root (AF_PACKET); CI runs as root")
	}
}

// requireSipp fails when sipp is missing, as requireTools does for nc.
func requireSipp(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Fatalf("sipp is not installed: %v; run `make deps` (it installs sip-tester)", err)
	}
}

// sippProc is one sipp process, a child of the test in its own process
// group, killed at cleanup.
type sippProc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
}

func startSipp(t testing.TB, dir, name string, args ...string) *sippProc {
	t.Helper()
	p := &sippProc{name: name, logPath: filepath.Join(dir, name+".out"), done: make(chan struct{})}
	out, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command("sipp", args...)
	p.cmd.Dir = dir
	p.cmd.Stdin = nil
	p.cmd.Stdout = out
	p.cmd.Stderr = out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		_ = out.Close()
		t.Fatalf("starting sipp %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		p.err = p.cmd.Wait()
		_ = out.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) // its process group only
			select {
			case <-p.done:
			case <-time.After(5 * time.Second):
				t.Errorf("sipp %s (pid %d) did not exit after SIGKILL", p.name, p.cmd.Process.Pid)
			}
		}
		if t.Failed() {
			t.Logf("sipp %s output tail:\n%s", p.name, tailFile(p.logPath, 15, 0))
		}
	})
	return p
}

func (p *sippProc) pid() int { return p.cmd.Process.Pid }

func (p *sippProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits up to limit for sipp to exit and requires exit status 0 (all
// calls successful).
func (p *sippProc) wait(t testing.TB, limit time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit):
		t.Fatalf("sipp %s did not finish within %v; output tail:\n%s", p.name, limit, tailFile(p.logPath, 20, 0))
	}
	if p.err != nil {
		t.Fatalf("sipp %s: %v (exit status 0 means every call succeeded); output tail:\n%s", p.name, p.err, tailFile(p.logPath, 20, 0))
	}
}

// tailFile returns the last n lines of the file at path, each cut to cut
// bytes when cut > 0, or the read error in parentheses.
func tailFile(path string, n, cut int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if cut > 0 {
		for i, l := range lines {
			if len(l) > cut {
				lines[i] = l[:cut] + "…"
			}
		}
	}
	return strings.Join(lines, "\n")
}

// sippLog counts the messages in a sipp -message_file log and collects the
// Call-IDs of the messages it sent.
type sippLog struct {
	sent, received int
	callIDs        map[string]bool
}

func readSippLog(t testing.TB, path string) sippLog {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("sipp message log: %v", err)
	}
	l := sippLog{callIDs: map[string]bool{}}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case strings.HasPrefix(line, "UDP message sent"):
			l.sent++
		case strings.HasPrefix(line, "UDP message received"):
			l.received++
		case strings.HasPrefix(line, "Call-ID:"):
			l.callIDs[strings.TrimSpace(strings.TrimPrefix(line, "Call-ID:"))] = true
		}
	}
	return l
}
