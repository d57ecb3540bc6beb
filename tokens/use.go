package tokens

import (
	"encoding/json"
	"time"
)

// useJSON is a Use as stored (FILE.used, tapline:{tokens}:used).
type useJSON struct {
	LastUsed time.Time `json:"last_used"`
	Expires  time.Time `json:"expires,omitzero"`
}

// EncodeUse is u's stored form (without the id, which is the field name).
func EncodeUse(u Use) []byte {
	b, _ := json.Marshal(useJSON{u.LastUsed, u.Expires})
	return b
}

// DecodeUse parses a stored use for id.
func DecodeUse(id string, b []byte) (Use, error) {
	var x useJSON
	err := json.Unmarshal(b, &x)
	return Use{ID: id, LastUsed: x.LastUsed, Expires: x.Expires}, err
}

// ApplyUse moves r's last use, and a renewed token's expiry, later to u's.
// Never earlier: a stale or forged use cannot shorten a record, and it
// extends only a token that is renewed by use anyway.
func ApplyUse(r *Record, u Use) {
	if u.LastUsed.After(r.LastUsed) {
		r.LastUsed = u.LastUsed
	}
	if r.Renew && u.Expires.After(r.Expires) && !u.Expires.After(u.LastUsed.Add(r.TTL)) {
		r.Expires = u.Expires
	}
}
