package jsonobj

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"unicode/utf8"
)

func elems(b []byte) ([]string, error) {
	var out []string
	it := Elements(b)
	for {
		v, ok := it.Next()
		if !ok {
			return out, it.Err()
		}
		out = append(out, string(v))
	}
}

func TestElements(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		err  bool
	}{
		{`[]`, nil, false},
		{` [ ] `, nil, false},
		{`["a",1,null,{"b":[2]},[3]]`, []string{`"a"`, `1`, `null`, `{"b":[2]}`, `[3]`}, false},
		{"[ \"x\\\"y\" , -1.5e3 ]\n", []string{`"x\"y"`, `-1.5e3`}, false},
		{`[1,]`, []string{"1"}, true},
		{`[,1]`, nil, true},
		{`[1 2]`, []string{"1"}, true},
		{`[1]x`, []string{"1"}, true},
		{`[1`, []string{"1"}, true},
		{`{"a":1}`, nil, true},
		{``, nil, true},
		{"[\"\xff\"]", nil, true},
	}
	for _, c := range cases {
		got, err := elems([]byte(c.in))
		if !slices.Equal(got, c.want) || (err != nil) != c.err {
			t.Errorf("%q: %q, %v; want %q, error %v", c.in, got, err, c.want, c.err)
		}
	}
}

// FuzzElements: a valid array in valid UTF-8 walks whole, to the elements
// encoding/json sees; anything else ends in an error.
func FuzzElements(f *testing.F) {
	for _, s := range []string{`[]`, `["a",1,null]`, `[[],{}]`, `[1,]`, `[`, ` [ true ] `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := elems(b)
		var want []json.RawMessage
		i := skipSpace(b, 0)
		if !json.Valid(b) || !utf8.Valid(b) || i == len(b) || b[i] != '[' {
			if err == nil {
				t.Fatalf("%q: accepted, but it is not an array in valid UTF-8", b)
			}
			return
		}
		if uerr := json.Unmarshal(b, &want); uerr != nil {
			t.Fatal(uerr)
		}
		if err != nil {
			if errors.Is(err, ErrTooDeep) {
				return
			}
			t.Fatalf("%q: valid array rejected: %v", b, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %d elements, encoding/json %d", b, len(got), len(want))
		}
		for i := range got {
			if got[i] != string(want[i]) {
				t.Fatalf("%q: element %d %q, encoding/json %q", b, i, got[i], want[i])
			}
		}
	})
}
