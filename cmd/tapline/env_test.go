package main

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"tapline/commands"
	"tapline/config"
	"tapline/crypto"
	"tapline/jsonobj"
	"tapline/keyring"
	"tapline/sensor"
)

// TestCaptureStatsAsJSON: the counters sniffer_stat writes under "capture"
// are the sensor's Stats as encoding/json writes them (names, order, every
// field), so a field that is not a uint64 counter cannot go missing.
func TestCaptureStatsAsJSON(t *testing.T) {
	var st sensor.Stats
	n := uint64(1)
	var fill func(v reflect.Value)
	fill = func(v reflect.Value) {
		for i := range v.NumField() {
			switch f := v.Field(i); f.Kind() {
			case reflect.Struct:
				fill(f)
			case reflect.Uint64:
				f.SetUint(n)
				n++
			}
		}
	}
	fill(reflect.ValueOf(&st).Elem())
	cs := captureStats(st)
	got := []byte{'{'}
	for i, c := range cs.Counters {
		if i > 0 {
			got = append(got, ',')
		}
		got = strconv.AppendUint(append(jsonobj.AppendStringS(got, c.Name), ':'), c.Value, 10)
	}
	got = append(got, '}')
	want, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("counters\n%s\nwant\n%s", got, want)
	}
	if cs.Drops != st.Drops {
		t.Fatalf("drops %d, want %d", cs.Drops, st.Drops)
	}
}

// TestKeyStatusEveryField: keyStatus copies every field of keyring.Status;
// a new field fails here until it is copied (and written by sniffer_stat).
func TestKeyStatusEveryField(t *testing.T) {
	var names []string
	for f := range reflect.TypeFor[keyring.Status]().Fields() {
		names = append(names, f.Name)
	}
	want := []string{"Source", "State", "Fingerprint", "LoadedAt", "Previous", "FailClosed", "LastError", "Reason", "StateError"}
	if !slices.Equal(names, want) {
		t.Fatalf("keyring.Status fields %v; keyStatus copies %v", names, want)
	}
	if ks := keyStatus(keyring.New(0)); ks.Loaded || ks.Source != "none" || ks.State != "no_key" {
		t.Fatalf("empty ring: %+v", ks)
	}
}

// statServer is a commands.Server with no connections.
type statServer struct{ t *commands.Table }

func (s statServer) Table() *commands.Table { return s.t }
func (s statServer) Stats() commands.Stats {
	return commands.Stats{Started: time.Now(), Requests: make([]int64, s.t.Len())}
}
func (statServer) Clients() []commands.ClientInfo { return nil }
func (statServer) ManagerFileStart(string, commands.ConnInfo) (string, error) {
	return "", nil
}
func (statServer) ManagerFileStop(commands.ConnInfo) (string, error) { return "", nil }
func (statServer) Allowlist(string, string) (commands.AllowlistState, error) {
	return commands.AllowlistState{}, nil
}
func (statServer) ReloadAccess() (commands.ReloadResult, error) { return commands.ReloadResult{}, nil }
func (statServer) Auth([]byte, commands.ConnInfo) (commands.AuthResult, error) {
	return commands.AuthResult{}, errors.New("no tokens")
}

// TestSnifferStatKeys: sniffer_stat's "keys" is the ring's status as
// encoding/json writes it (the server used to marshal it), and
// exists_aes_key follows the ring.
func TestSnifferStatKeys(t *testing.T) {
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	static := keyring.New(0)
	static.Static(key)
	loading := keyring.New(0)
	loading.SetState("loading", "dial \"redis\": refused", true)
	tbl := commands.Default()
	for _, ring := range []*keyring.Ring{keyring.New(0), static, loading} {
		env := commandEnv(config.Default(), ring, nil)
		run := func(name string) []byte {
			rep := &commands.Reply{}
			commands.Run(&commands.Request{Cmd: tbl.Lookup([]byte(name)), Server: statServer{tbl}, Env: env}, rep)
			return rep.Body
		}
		var v struct {
			Keys    json.RawMessage `json:"keys"`
			Capture json.RawMessage `json:"capture"`
		}
		if err := json.Unmarshal(run("sniffer_stat"), &v); err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(ring.Status())
		if string(v.Keys) != string(want) || string(v.Capture) != "null" {
			t.Errorf("keys %s, capture %s; want keys %s, capture null", v.Keys, v.Capture, want)
		}
		_, loaded := ring.Current()
		if got := string(run("exists_aes_key")); got != map[bool]string{true: "yes", false: "no"}[loaded] {
			t.Errorf("exists_aes_key = %s with a key loaded: %v", got, loaded)
		}
	}
}
