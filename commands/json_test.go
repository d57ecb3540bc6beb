package commands

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// checkJSON fails unless b is one valid JSON text in valid UTF-8: what
// every JSON client of the manager needs, whatever bytes came in.
func checkJSON(t *testing.T, what string, b []byte) {
	t.Helper()
	if !json.Valid(b) {
		t.Fatalf("%s: not valid JSON: %q", what, b)
	}
	if !utf8.Valid(b) {
		t.Fatalf("%s: not valid UTF-8: %q", what, b)
	}
}

// statJSON runs sniffer_stat on a host with these listeners and counts
// requests under every command, so each encoded name and path is exercised.
func statJSON(listeners []string) *Reply {
	tbl := Default()
	h := stubHost{t: tbl, listeners: listeners}
	rep := &Reply{}
	Run(&Request{Cmd: tbl.Lookup([]byte("sniffer_stat")), Host: h}, rep)
	return rep
}

// TestSnifferStatHostileListener: a manager_file path is any bytes a
// client sent. strconv.AppendQuote turned \xff into `\xff` and U+F0000
// into `\U000f0000`, neither of which is JSON, and every GUI polling
// sniffer_stat broke.
func TestSnifferStatHostileListener(t *testing.T) {
	paths := []string{
		"unix /tmp/a\xffb.sock",
		"unix /tmp/\U000f0000.sock",
		"unix /tmp/q\"uote\\back\x01\n.sock",
		"unix /tmp/\xed\xa0\x80\xc3.sock",
	}
	rep := statJSON(append([]string{"tcp 127.0.0.1:5029"}, paths...))
	checkJSON(t, "sniffer_stat", rep.Body)
	var v struct {
		Manager struct {
			Listeners []string `json:"listeners"`
		} `json:"manager"`
	}
	if err := json.Unmarshal(rep.Body, &v); err != nil {
		t.Fatal(err)
	}
	got := v.Manager.Listeners
	if len(got) != 5 || got[1] != "unix /tmp/a\uFFFDb.sock" || got[2] != "unix /tmp/\U000f0000.sock" {
		t.Fatalf("listeners = %q", got)
	}
}

// FuzzStatsJSON: sniffer_stat is valid JSON in valid UTF-8 for any
// listener names.
func FuzzStatsJSON(f *testing.F) {
	f.Add("unix /tmp/a\xffb", "\U000f0000\"\\\x00")
	f.Fuzz(func(t *testing.T, a, b string) {
		checkJSON(t, "sniffer_stat", statJSON([]string{a, b}).Body)
	})
}

// TestJSONRepliesAreValid runs every JSON-producing command and checks
// the bytes.
func TestJSONRepliesAreValid(t *testing.T) {
	for _, line := range []string{"sniffer_stat", "clients", "listcalls", "listregisters", `listcalls {"limit":"1"}`} {
		rep := run(t, line)
		if rep.Failed() {
			t.Fatalf("%s failed: %s", line, rep.Msg)
		}
		if rep.Kind != JSON {
			t.Fatalf("%s: kind %d", line, rep.Kind)
		}
		b := rep.Body
		if rep.Stream != nil {
			var sb strings.Builder
			if err := rep.Stream(&sb); err != nil {
				t.Fatal(err)
			}
			b = []byte(sb.String())
		}
		checkJSON(t, line, b)
	}
}
