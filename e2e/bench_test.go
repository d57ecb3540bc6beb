package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBenchStandardSnapshot runs `tapline bench --standard` for the snapshot
// and session sections with short points: the real binary replays a
// synthetic capture (20k calls here, 100k in make bench), serves listcalls while pings run on another
// connection, and the reports say what was measured. Numbers are not
// judged here (speed is for make bench); their presence and sanity are.
func TestBenchStandardSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("starts several servers and replays 20k calls")
	}
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, taplineBin, "bench", "--standard", "--sections", "session,snapshot",
		"--point", "300ms", "--snapshot-calls", "20000", "--out", out, "--tapline-bin", taplineBin)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tapline bench --standard: %v\n%s", err, b)
	}
	md, err := os.ReadFile(filepath.Join(out, "latest.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"## Session small command", "## Large snapshot: listcalls of the whole live table (TCP)",
		"listcalls encoder alone (in-process, one goroutine, 20000 calls",
		"- listcalls of 20,000 calls over TCP: ", "- ping p99 while listcalls streams / idle = ",
		"- session c=16: tapline / floor = ",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("latest.md lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(string(md), "## One-shot") {
		t.Error("--sections session,snapshot also ran the one-shot section")
	}
	var rep struct {
		Encoding struct {
			Calls int     `json:"calls"`
			Bytes int64   `json:"bytes"`
			GBps  float64 `json:"gb_per_s"`
		} `json:"listcalls_encoding"`
		Results []struct {
			Label    string           `json:"label"`
			Note     string           `json:"note"`
			Table    int              `json:"table_calls"`
			Request  string           `json:"request"`
			Requests int64            `json:"requests"`
			BytesIn  int64            `json:"bytes_in"`
			Errors   map[string]int64 `json:"errors"`
		} `json:"results"`
	}
	jb, err := os.ReadFile(filepath.Join(out, "latest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(jb, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Encoding.Calls != 20_000 || rep.Encoding.GBps <= 0 {
		t.Errorf("encoder measurement %+v: want 20000 calls", rep.Encoding)
	}
	seen := map[string]bool{}
	for _, r := range rep.Results {
		if r.Note != "snapshot" {
			continue
		}
		seen[r.Label] = true
		if r.Table != 20_000 {
			t.Errorf("snapshot point %s: table_calls %d, want 20000", r.Label, r.Table)
		}
		if r.Requests == 0 || len(r.Errors) > 0 {
			t.Errorf("snapshot point %s: %d requests, errors %v", r.Label, r.Requests, r.Errors)
		}
		// A listing is the whole table: about 445 bytes a call.
		if r.Request == "listcalls" && r.BytesIn/r.Requests < 20_000*300 {
			t.Errorf("snapshot point %s: %d bytes per listing, want the 100k-call table", r.Label, r.BytesIn/r.Requests)
		}
	}
	for _, l := range []string{"tapline", "ping idle", "ping during listcalls", "tapline (with pings)"} {
		if !seen[l] {
			t.Errorf("no snapshot point %q in latest.json", l)
		}
	}
}
