package server

import (
	"encoding/json"
	"testing"

	"tapline/access"
)

// FuzzAllowState: <statedir>/allowlist.state is read at start and puts
// entries in force, so it is parsed like any hostile input. What parses
// is within the runtime bound, has no host bits set, and survives its own
// encoding unchanged.
func FuzzAllowState(f *testing.F) {
	for _, s := range []string{
		`{"entries":["192.0.2.0/24","198.51.100.7/32"],"updated":"2026-12-02T11:00:00Z"}`,
		`{"entries":[]}`, `{"entries":["10.0.0.1/8"]}`, `{"entries":["::ffff:10.0.0.0/104"]}`, `{}`, `null`, `[`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := parseAllowState(b)
		if err != nil {
			return
		}
		if len(ps) > access.MaxRuntimeAllow {
			t.Fatalf("%d entries, over the bound", len(ps))
		}
		d := allowStateData{}
		for _, p := range ps {
			if p != p.Masked() {
				t.Fatalf("%v has host bits set", p)
			}
			d.Entries = append(d.Entries, p.String())
		}
		enc, _ := json.Marshal(d)
		again, err := parseAllowState(enc)
		if err != nil || len(again) != len(ps) {
			t.Fatalf("%s -> %v -> %s -> %v, %v", b, ps, enc, again, err)
		}
		for i := range ps {
			if again[i] != ps[i] {
				t.Fatalf("%s: entry %d %v became %v", b, i, ps[i], again[i])
			}
		}
	})
}
