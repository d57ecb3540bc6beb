package config

// Diff lists the keys whose values differ between a and b, in table
// order: reload tells what changed, and what needs a restart. Secret keys
// are named, never shown.
func Diff(a, b *Config) []string {
	var out []string
	for i := range table {
		if d := &table[i]; d.get != nil && d.get(a) != d.get(b) {
			out = append(out, d.name)
		}
	}
	return out
}
