package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestJSONRepliesValidUTF8: whatever bytes a request carries, every reply
// line of a JSON session is valid JSON in valid UTF-8. The id used to be
// echoed raw, so {"id":"\xff"} came back as invalid UTF-8 and broke the
// client's decoder (issue 9, item 9). Such a request is now refused as
// invalid, with "id":null, and the session goes on.
func TestJSONRepliesValidUTF8(t *testing.T) {
	s := startServer(t, serverConfig{})
	const bad = `{"id":null,"error":"request is not valid UTF-8","code":"invalid","status":400}`
	tests := []struct{ req, want string }{
		{"{\"id\":\"a\xffb\",\"cmd\":\"ping\"}", bad},                                                                       // inside a string id
		{"{\"id\":[\"\xed\xa0\x80\"],\"cmd\":\"ping\"}", bad},                                                               // a surrogate encoded in UTF-8, nested
		{"{\"id\":1,\"cmd\":\"ping\",\"args\":\"\xc3\"}", bad},                                                              // anywhere else in the line
		{"{\"id\":\xff,\"cmd\":\"ping\"}", `{"id":null,"error":"request is not valid JSON","code":"invalid","status":400}`}, // raw bytes as the id
		{"{\"id\":\"é\U000f0000\",\"cmd\":\"ping\"}", "{\"id\":\"é\U000f0000\",\"error\":\"\",\"result\":\"pong\"}"},
		{`{"id":"\ud800","cmd":"ping"}`, `{"id":"\ud800","error":"","result":"pong"}`}, // an escape is JSON-valid text: echoed
		{`{"id":2,"cmd":"ping"}`, `{"id":2,"error":"","result":"pong"}`},
	}
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			j := dialSession(t, network, s.target(network))
			for _, tt := range tests {
				j.send(tt.req)
				got, err := j.readLine(5 * time.Second)
				if err != nil {
					t.Fatalf("%q: no reply: %v", tt.req, err)
				}
				if !json.Valid([]byte(got)) || !utf8.ValidString(got) {
					t.Fatalf("%q: reply is not valid JSON in UTF-8: %q", tt.req, got)
				}
				if got != tt.want {
					t.Fatalf("%q: got %q, want %q", tt.req, got, tt.want)
				}
			}
		})
	}
}

// TestEmptyListingNoCapture: a sensor started without a capture source
// answers listings with VoIPmonitor's idle bytes (the header row only,
// 1031 and 501 bytes), not an error string.
func TestEmptyListingNoCapture(t *testing.T) {
	s := startServer(t, serverConfig{})
	for _, tt := range []struct {
		req, head, tail string
		n               int
	}{
		{"listcalls\n", `[["callreference","callid","calldate",`, `"id_sensor","vlan"]]`, 1031},
		{"listregisters\n", `[["ID","id_sensor","fname",`, `"to_num_country_code"]]`, 501},
	} {
		for _, network := range []string{"tcp", "unix"} {
			got := s.request(t, network, tt.req)
			if len(got) != tt.n || !strings.HasPrefix(got, tt.head) || !strings.HasSuffix(got, tt.tail) {
				t.Errorf("%s %q: %d bytes %q", network, tt.req, len(got), clip([]byte(got), 120))
			}
		}
	}
	j := dialSession(t, "tcp", s.target("tcp"))
	j.send(`{"id":1,"cmd":"listcalls","args":{"limit":5}}`)
	j.expectLine(`{"id":1,"error":"","result":{"total":0,"rows":[]}}`, 5*time.Second)
}
