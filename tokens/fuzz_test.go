package tokens

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzParse: no input makes Parse panic, and what it accepts has the
// shape it promises (the id a valid id, the parts sub-slices of the text).
func FuzzParse(f *testing.F) {
	_, text, _, _ := Generate(nil)
	f.Add([]byte(text))
	f.Add([]byte("tlk_0123456789abcdef_" + "A"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		id, secret, err := Parse(b)
		if err != nil {
			return
		}
		if !ValidID(id) || len(secret) != SecretLen || !bytes.Equal(b, []byte(Prefix+string(id)+"_"+string(secret))) {
			t.Fatalf("Parse(%q) = %q, %q", b, id, secret)
		}
	})
}

// FuzzRecord: a stored record that decodes is valid and survives a round trip.
func FuzzRecord(f *testing.F) {
	_, r := mint(f, nil)
	b, _ := json.Marshal(r)
	f.Add(b)
	f.Add([]byte(`{"id":"0123456789abcdef","level":"read_write","cidrs":["10.0.0.0/8"],"ttl":"1h","renew":true,"sha256":"00"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Record
		if json.Unmarshal(b, &r) != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("decoded an invalid record: %v", err)
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var r2 Record
		if err := json.Unmarshal(out, &r2); err != nil {
			t.Fatalf("round trip: %v (%s)", err, out)
		}
	})
}
