package config

import (
	"bytes"
	"strings"
)

// Markdown renders every key as docs/CONFIG.md. The reference is generated
// from the key table (and a test fails when the file is stale), so the help
// of `tapline serve --help`, the config loader and the documentation cannot
// drift apart.
func Markdown() []byte {
	var b bytes.Buffer
	b.WriteString("# Configuration keys\n\n")
	b.WriteString("Generated from `config/keys.go` by `make docs`; do not edit by hand.\n\n")
	b.WriteString("Keys are read from a voipmonitor.conf-style file (`serve -c FILE`, `key = value` lines) ")
	b.WriteString("and can be overridden by the flag of the same name. Keys tapline does not know are listed ")
	b.WriteString("once at start-up; a near miss of a known key (edit distance ≤ 2) is reported with \"did you mean\". ")
	b.WriteString("Values of keys marked *secret* never appear in errors or logs.\n\n")
	b.WriteString("| key | flag | default | meaning |\n|---|---|---|---|\n")
	for _, k := range Keys() {
		name := "`" + k.Name + "`"
		if k.Secret {
			name += " (*secret*)"
		}
		def := "(empty)"
		if k.Default != "" {
			def = "`" + k.Default + "`"
		}
		b.WriteString("| " + name + " | `--" + k.Flag + "` | " + def + " | " + strings.ReplaceAll(k.Help, "|", "\\|") + " |\n")
	}
	return b.Bytes()
}
