package config

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"

	"gopkg.in/ini.v1"
)

// iniOptions make gopkg.in/ini.v1 read voipmonitor.conf syntax: only '='
// separates key and value, '#' and ';' start comment lines but not inline
// comments, quotes and trailing backslashes are kept as written, keys are
// lower-cased, lines without '=' are skipped, and every [section] header
// starts a new section so that walking the sections visits keys in file
// order. AllowShadows is deliberately off: ini.v1 then simply overwrites a
// repeated key, which is the "last one wins" rule, whereas its shadow list
// drops empty values and cannot say which occurrence came last.
var iniOptions = ini.LoadOptions{
	InsensitiveKeys:         true,
	IgnoreContinuation:      true,
	IgnoreInlineComment:     true,
	SkipUnrecognizableLines: true,
	AllowNonUniqueSections:  true,
	PreserveSurroundedQuote: true,
	KeyValueDelimiters:      "=",
}

// parseValues parses data with ini.v1 and merges the keys of all sections;
// a key set again later in the file wins.
func parseValues(data []byte) (map[string]string, error) {
	f, err := ini.LoadSources(iniOptions, data)
	if err != nil {
		return nil, err
	}
	vals := make(map[string]string)
	for _, s := range f.Sections() {
		for _, k := range s.Keys() {
			vals[iniKeyName(k.Name())] = k.Value()
		}
	}
	return vals, nil
}

// iniKeyName undoes ini.v1's renaming of "-" keys to "#1", "#2", ...
// (no real key can start with '#': such a line is a comment).
func iniKeyName(name string) string {
	if strings.HasPrefix(name, "#") {
		return "-"
	}
	return name
}

// scanLines finds what ini.v1 does not report: the line of the last
// occurrence of each key, and every value of the merge keys (sipport), which
// join with "," instead of the last one winning. It also turns constructs that are not
// voipmonitor.conf syntax into errors with a line number, and warns about
// lines without '=' (ini.v1 skips them silently). It splits lines exactly as
// ini.v1 does, so both agree on which lines hold which keys.
func scanLines(file string, data []byte) (map[string]int, map[string][]string, []Warning, error) {
	lines := make(map[string]int)
	merged := make(map[string][]string)
	var warns []Warning
	for i, raw := range strings.SplitAfter(string(trimBOM(data)), "\n") {
		n := i + 1
		line := strings.TrimLeftFunc(raw, unicode.IsSpace)
		key, msg, err := scanLine(line)
		switch {
		case err != nil:
			return nil, nil, warns, fmt.Errorf("%s:%d: %v", file, n, err)
		case msg != "":
			warns = append(warns, ignoredLine(file, n, line, msg))
		case key != "":
			lines[key] = n
			if d := lookupName(key); d != nil && d.merge {
				if _, v, _ := strings.Cut(line, "="); strings.TrimSpace(v) != "" {
					merged[key] = append(merged[key], strings.TrimSpace(v))
				}
			}
		}
	}
	return lines, merged, warns, nil
}

// ignoredLine is the warning for a line that sets nothing. When its first
// word is (or nearly is) a security key ("manager_plain_level: full_read"
// without '='), it names that key as a near miss, so that start and reload
// refuse the file like a misspelt security key: the setting is lost either way.
func ignoredLine(file string, n int, line, msg string) Warning {
	w := Warning{File: file, Line: n, Msg: msg}
	word, _, _ := strings.Cut(strings.TrimSpace(line), " ")
	word = strings.ToLower(strings.TrimRight(word, ":\t"))
	if word == "" {
		return w
	}
	d := lookupName(word)
	if d == nil {
		d = nearKey(word)
	}
	if d != nil && d.security {
		w.Key, w.Suggest, w.Security = word, d.name, true
	}
	return w
}

// scanLine classifies one left-trimmed line: a key, a line to warn about
// (msg), or an error. Blank, comment and section lines yield nothing.
func scanLine(line string) (key, msg string, err error) {
	switch {
	case line == "" || line[0] == '#' || line[0] == ';':
		return "", "", nil
	case line[0] == '[':
		return "", "", checkSection(line)
	case line[0] == '"' || line[0] == '`':
		return "", "", fmt.Errorf("quoted key names are not supported")
	}
	i := strings.IndexByte(line, '=')
	switch {
	case i < 0:
		return "", "line ignored: no '=' in it", nil
	case i == 0:
		return "", "line ignored: no key before '='", nil
	}
	if err := checkValue(line[i+1:]); err != nil {
		return "", "", err
	}
	return strings.ToLower(strings.TrimSpace(line[:i])), "", nil
}

func checkSection(line string) error {
	end := strings.LastIndexByte(line, ']')
	switch {
	case end < 0:
		return fmt.Errorf("section header has no closing ']'")
	case end == 1:
		return fmt.Errorf("empty section name")
	}
	return nil
}

// checkValue rejects values that ini.v1 would continue on following lines:
// an opening ` or """ without its closing twin. voipmonitor.conf has no
// multi-line values.
func checkValue(v string) error {
	v = strings.TrimLeftFunc(v, unicode.IsSpace)
	var open bool
	switch {
	case len(v) > 3 && v[:3] == `"""`:
		open = !strings.Contains(v[3:], `"""`)
	case v != "" && v[0] == '`':
		open = !strings.Contains(v[1:], "`")
	}
	if open {
		return fmt.Errorf("value opens a multi-line quote (` or \"\"\") that is not closed on the same line")
	}
	return nil
}

// trimBOM drops a byte-order mark the way ini.v1 does.
func trimBOM(data []byte) []byte {
	switch {
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}), bytes.HasPrefix(data, []byte{0xFF, 0xFE}):
		return data[2:]
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		return data[3:]
	}
	return data
}
