package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// sizeUnits maps a lower-cased size suffix to its multiplier. All multiples
// are binary, as in VoIPmonitor ("64k" is 65536 bytes).
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
}

// parseSize parses a byte count: a decimal integer with an optional binary
// suffix (k, KiB, kb, m, MiB, mb, g, GiB, any case).
func parseSize(s string) (int64, bool) {
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if i < 0 {
		i = len(s)
	}
	mult, ok := sizeUnits[strings.ToLower(strings.TrimSpace(s[i:]))]
	if i == 0 || !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, false
	}
	return n * mult, true
}

// formatSize renders n with the largest binary suffix that divides it.
func formatSize(n int64) string {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}
	for _, u := range units {
		if n != 0 && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// parseDuration parses a Go duration ("1m30s", "250ms") or, VoIPmonitor
// style, a plain integer number of seconds.
func parseDuration(s string) (time.Duration, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > math.MaxInt64/int64(time.Second) || n < math.MinInt64/int64(time.Second) {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	d, err := time.ParseDuration(s)
	return d, err == nil
}

// ParseBool parses a yes/no value as voipmonitor.conf writes it: yes/no,
// true/false, on/off and 1/0 in any case. ok is false for anything else.
func ParseBool(s string) (v, ok bool) {
	switch strings.ToLower(s) {
	case "yes", "true", "on", "1":
		return true, true
	case "no", "false", "off", "0":
		return false, true
	}
	return false, false
}

// parseBool is ParseBool, under the name the key table uses.
func parseBool(s string) (bool, bool) { return ParseBool(s) }

// parseInt parses a decimal integer within [lo, hi]; what names the
// expected kind of value in the error ("a port").
func parseInt(s, what string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%q is not %s (%d..%d)", s, what, lo, hi)
	}
	return n, nil
}
