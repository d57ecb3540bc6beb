package tokens

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode"

	"tapline/access"
)

// Bounds on what a record may hold: a store is hostile input too.
const (
	MaxTokens  = 10000 // tokens in force in one Set (and one store)
	MaxCIDRs   = 64    // address ranges one token is bound to
	MaxNameLen = 64
	MaxTTL     = 10 * 365 * 24 * time.Hour
)

// Record is one token as stored: never its secret, only the secret's hash.
type Record struct {
	ID       string
	Name     string
	Level    access.Level
	CIDRs    []netip.Prefix // empty: any address
	Created  time.Time
	Expires  time.Time     // zero: never (a renewed token: the expiry as last written back)
	TTL      time.Duration // with Renew: each use pushes the expiry to now+TTL
	Renew    bool
	Revoked  time.Time // zero: in force
	LastUsed time.Time
	Hash     Hash
}

// stored is a Record's JSON form (the file and Redis hold the same).
type stored struct {
	ID       string     `json:"id"`
	Name     string     `json:"name,omitempty"`
	Level    string     `json:"level"`
	CIDRs    []string   `json:"cidrs,omitempty"`
	Created  time.Time  `json:"created"`
	Expires  *time.Time `json:"expires,omitempty"`
	TTL      string     `json:"ttl,omitempty"`
	Renew    bool       `json:"renew,omitempty"`
	Revoked  *time.Time `json:"revoked,omitempty"`
	LastUsed *time.Time `json:"last_used,omitempty"`
	Hash     string     `json:"sha256"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func timeVal(p *time.Time) time.Time {
	if p == nil {
		return time.Time{}
	}
	return *p
}

// MarshalJSON writes the stored form.
func (r Record) MarshalJSON() ([]byte, error) {
	s := stored{ID: r.ID, Name: r.Name, Level: r.Level.String(), Created: r.Created.UTC(), Expires: timePtr(r.Expires),
		Renew: r.Renew, Revoked: timePtr(r.Revoked), LastUsed: timePtr(r.LastUsed), Hash: hex.EncodeToString(r.Hash[:])}
	if r.TTL > 0 {
		s.TTL = r.TTL.String()
	}
	for _, p := range r.CIDRs {
		s.CIDRs = append(s.CIDRs, p.String())
	}
	return json.Marshal(s)
}

// UnmarshalJSON reads the stored form and validates it all.
func (r *Record) UnmarshalJSON(b []byte) error {
	var s stored
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	out := Record{ID: s.ID, Name: s.Name, Created: s.Created, Expires: timeVal(s.Expires), Renew: s.Renew,
		Revoked: timeVal(s.Revoked), LastUsed: timeVal(s.LastUsed)}
	var err error
	if out.Level, err = access.ParseLevel(s.Level); err != nil {
		return err
	}
	if s.TTL != "" {
		if out.TTL, err = time.ParseDuration(s.TTL); err != nil {
			return fmt.Errorf("ttl: %w", err)
		}
	}
	if len(s.CIDRs) > MaxCIDRs {
		return fmt.Errorf("more than %d cidrs", MaxCIDRs)
	}
	for _, c := range s.CIDRs {
		p, err := access.ParsePrefix(c)
		if err != nil {
			return err
		}
		out.CIDRs = append(out.CIDRs, p)
	}
	h, err := hex.DecodeString(s.Hash)
	if err != nil || len(h) != len(out.Hash) {
		return errors.New("sha256: not 64 hex digits")
	}
	copy(out.Hash[:], h)
	if err := out.Validate(); err != nil {
		return err
	}
	*r = out
	return nil
}

// Validate checks what a record must satisfy to be loaded.
func (r *Record) Validate() error {
	switch {
	case !ValidID(r.ID):
		return fmt.Errorf("id %q: not %d lower case hex digits", truncate(r.ID), IDLen)
	case r.Level == access.None:
		return errors.New("no level")
	case len(r.CIDRs) > MaxCIDRs:
		return fmt.Errorf("more than %d cidrs", MaxCIDRs)
	case r.TTL < 0 || r.TTL > MaxTTL:
		return fmt.Errorf("ttl %v out of range", r.TTL)
	case r.Renew && r.TTL == 0:
		return errors.New("renew needs a ttl")
	case r.Hash == Hash{}:
		return errors.New("no hash")
	}
	return ValidName(r.Name)
}

// ValidName: at most MaxNameLen printable characters, no quotes (names
// show in logs and listings).
func ValidName(n string) error {
	if len(n) > MaxNameLen {
		return fmt.Errorf("name longer than %d bytes", MaxNameLen)
	}
	if strings.ContainsFunc(n, func(r rune) bool { return !unicode.IsPrint(r) || r == '"' || r == '\\' }) {
		return errors.New("name has unprintable characters or quotes")
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
