package commands

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// markdown renders the visible commands as docs/COMMANDS.md. The doc is
// generated from the table (and a test fails when the file is stale) so the
// documentation cannot drift from what the server does.
func markdown(t *Table) []byte {
	var b bytes.Buffer
	b.WriteString("# Manager commands\n\n")
	b.WriteString("Generated from the command table by `make docs`; do not edit by hand.\n\n")
	b.WriteString("Access levels: `limited_read` < `full_read` < `read_write`. A connection runs the commands at or below its level ")
	b.WriteString("(docs/SECURITY.md says how each connection gets one); above it, text mode answers one line naming the level needed ")
	b.WriteString("and JSON answers `forbidden` (403), or `unauthenticated` (401) on plaintext TCP without a token.\n")
	b.WriteString("\"Plaintext\" says whether the command is accepted unencrypted on TCP once an AES key exists ")
	b.WriteString("(VoIPmonitor's notNeedAes list); levels apply on top of it.\n\n")
	b.WriteString("| command | access | plaintext | summary |\n|---|---|---|---|\n")
	for _, c := range t.sorted() {
		b.WriteString("| `" + c.usage() + "` | " + c.Level.String() + " | " + plaintextCell(c) + " | " + c.Summary + " |\n")
	}
	for _, c := range t.sorted() {
		b.WriteString("\n## " + c.Name + "\n\n" + c.Summary + ".\n\n")
		b.WriteString("Usage: `" + c.usage() + "`\n")
		if len(c.Params) > 0 {
			b.WriteString("\n| param | required | meaning |\n|---|---|---|\n")
			for _, p := range c.Params {
				b.WriteString("| `" + p.Name + "` | " + yesNo(!p.Optional) + " | " + strings.ReplaceAll(p.Help, "|", "\\|") + " |\n")
			}
		}
	}
	return b.Bytes()
}

// TestProtocolErrorTable: docs/PROTOCOL.md §6 lists every error code with
// the status the server sends, and no code the server does not know.
func TestProtocolErrorTable(t *testing.T) {
	doc, err := os.ReadFile("../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, _ := bytes.Cut(doc, []byte("\n## 6. Errors\n"))
	sec, _, _ = bytes.Cut(sec, []byte("\n## "))
	rows := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| ([0-9]{3}) \\|").FindAllSubmatch(sec, -1)
	seen := map[string]bool{}
	for _, r := range rows {
		code, status := string(r[1]), string(r[2])
		seen[code] = true
		if want := strconv.Itoa(Status(code)); status != want || !knownCode(code) {
			t.Errorf("PROTOCOL.md: %s has status %s; the server sends %s (known code: %v)", code, status, want, knownCode(code))
		}
	}
	for _, c := range codes {
		if !seen[c.Code] {
			t.Errorf("PROTOCOL.md §6 does not list %s", c.Code)
		}
	}
}

func knownCode(code string) bool {
	for _, c := range codes {
		if c.Code == code {
			return true
		}
	}
	return false
}
