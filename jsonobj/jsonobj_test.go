package jsonobj

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

type member struct{ key, val string }

func walk(b []byte) ([]member, error) {
	var out []member
	it := Members(b)
	for {
		k, v, ok := it.Next()
		if !ok {
			return out, it.Err()
		}
		out = append(out, member{string(k), string(v)})
	}
}

func TestMembers(t *testing.T) {
	cases := []struct {
		in   string
		want []member
		err  error
	}{
		{`{"id":1,"cmd":"ping"}`, []member{{"id", "1"}, {"cmd", `"ping"`}}, nil},
		{" {\"id\" : \"a\" , \"args\" : {\"x\":[1,2,{\"y\":null}]} }\r\n", []member{{"id", `"a"`}, {"args", `{"x":[1,2,{"y":null}]}`}}, nil},
		{`{}`, nil, nil},
		{"{}\n", nil, nil},
		{`{"a":-0.5e+10,"b":true,"c":false,"d":null,"e":"\u00e9\n"}`, []member{{"a", "-0.5e+10"}, {"b", "true"}, {"c", "false"}, {"d", "null"}, {"e", `"\u00e9\n"`}}, nil},
		{`{"a":1,"a":2}`, []member{{"a", "1"}, {"a", "2"}}, nil},
		{`[1,2]`, nil, ErrNotObj},
		{`"cmd"`, nil, ErrNotObj},
		{``, nil, errSyntax},
		{`{`, nil, errSyntax},
		{`{"a"}`, nil, errSyntax},
		{`{"a":1,}`, []member{{"a", "1"}}, errSyntax},
		{`{"a":1}x`, []member{{"a", "1"}}, errSyntax},
		{`{"a":01}`, []member{{"a", "0"}}, errSyntax}, // members before the error are returned
		{`{"a":1.}`, nil, errSyntax},
		{`{"a":"x` + "\x01" + `"}`, nil, errSyntax},
		{`{"a":"\x"}`, nil, errSyntax},
		{`{"a":tru}`, nil, errSyntax},
		{"{\"id\":\"a\xffb\",\"cmd\":\"ping\"}", nil, ErrUTF8}, // echoed ids must stay UTF-8
		{"{\"id\":[\"\xed\xa0\x80\"],\"cmd\":\"ping\"}", nil, ErrUTF8},
		{"{\"a\xc3\":1}", nil, ErrUTF8},
		{"{\"id\":\"é😀\U000f0000\"}", []member{{"id", "\"é😀\U000f0000\""}}, nil},
		{"{\"id\":\xff}", nil, errSyntax},
		{`{"a":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `}`, nil, ErrTooDeep},
		{`{"a":` + strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1) + `}`,
			[]member{{"a", strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1)}}, nil},
	}
	for _, tc := range cases {
		got, err := walk([]byte(tc.in))
		if !errors.Is(err, tc.err) && !(err == nil && tc.err == nil) {
			t.Errorf("%q: error %v, want %v", tc.in, err, tc.err)
		}
		if len(got) != len(tc.want) {
			t.Errorf("%q: members %q, want %q", tc.in, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%q: member %d = %q, want %q", tc.in, i, got[i], tc.want[i])
			}
		}
	}
}

func TestKeyIsAndString(t *testing.T) {
	if !KeyIs([]byte(`\u0063md`), "cmd") || !KeyIs([]byte("cmd"), "cmd") || KeyIs([]byte("cmdx"), "cmd") {
		t.Fatal("KeyIs")
	}
	for in, want := range map[string]string{
		`"ping"`: "ping", `"a\"b\\c\/d\b\f\n\r\t"`: "a\"b\\c/d\b\f\n\r\t", `"\u00e9\ud83d\ude00"`: "é😀",
		`"\ud83d"`: "\ufffd", `"\ud83dx"`: "\ufffdx", `"\ude00\u0041"`: "\ufffdA", `""`: "",
	} {
		got, ok := String(nil, []byte(in))
		if !ok || string(got) != want {
			t.Errorf("String(%s) = %q %v, want %q", in, got, ok, want)
		}
	}
	if _, ok := String(nil, []byte("12")); ok {
		t.Error("String accepted a number")
	}
}

// FuzzMembers checks the walker against encoding/json (validity, string
// values) and gjson (the members of valid objects).
func FuzzMembers(f *testing.F) {
	for _, s := range []string{`{"id":1,"cmd":"ping"}`, `{"id":"x","cmd":"help ping","args":["a",{"b":1}]}`,
		`{"a":"\ud83d\ude00\u00e9"}`, `[1]`, `{"a":1,}`, `{"a":1e5,"b":-0,"c":[true,false,null]}`, ` {} `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := walk(b)
		valid := json.Valid(b)
		if valid && !utf8.Valid(b) {
			// encoding/json accepts invalid UTF-8 in strings; we refuse it.
			if err == nil {
				t.Fatalf("%q: accepted invalid UTF-8", b)
			}
			return
		}
		switch {
		case !valid && err == nil:
			t.Fatalf("%q: accepted invalid JSON", b)
		case valid && err == nil:
		case valid && errors.Is(err, ErrNotObj):
			if gjson.ParseBytes(b).IsObject() {
				t.Fatalf("%q: an object reported as not one", b)
			}
			return
		case valid && errors.Is(err, ErrTooDeep):
			return
		case valid:
			t.Fatalf("%q: valid JSON rejected: %v", b, err)
		default:
			return
		}
		var want []member
		gjson.ParseBytes(b).ForEach(func(k, v gjson.Result) bool {
			want = append(want, member{k.Str, v.Raw})
			return true
		})
		if len(got) != len(want) {
			t.Fatalf("%q: %d members, gjson %d", b, len(got), len(want))
		}
		for i := range got {
			key, _ := String(nil, []byte(`"`+got[i].key+`"`))
			if utf8.Valid(key) && string(key) != want[i].key {
				t.Fatalf("%q: key %d %q, gjson %q", b, i, key, want[i].key)
			}
			if got[i].val != want[i].val {
				t.Fatalf("%q: value %d %q, gjson %q", b, i, got[i].val, want[i].val)
			}
			if v := []byte(got[i].val); v[0] == '"' {
				var s string
				if err := json.Unmarshal(v, &s); err != nil {
					t.Fatalf("%q: %v", v, err)
				}
				u, ok := String(nil, v)
				if !ok || (utf8.Valid(u) && string(u) != s) {
					t.Fatalf("String(%s) = %q, encoding/json %q", v, u, s)
				}
			}
		}
	})
}

func BenchmarkMembersRequest(b *testing.B) {
	line := []byte(`{"id":12345,"cmd":"ping"}` + "\n")
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		it := Members(line)
		for {
			if _, _, ok := it.Next(); !ok {
				break
			}
		}
		if it.Err() != nil {
			b.Fatal(it.Err())
		}
	}
}

func BenchmarkGjsonRequest(b *testing.B) {
	line := []byte(`{"id":12345,"cmd":"ping"}` + "\n")
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if !gjson.ValidBytes(line) {
			b.Fatal("invalid")
		}
		v := gjson.ParseBytes(line)
		_, _, _ = v.Get("id"), v.Get("cmd"), v.Get("args")
	}
}
