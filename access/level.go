package access

import "fmt"

// Level is what a connection may do, and the least a command needs. The
// zero value is None: a connection with no level runs nothing.
type Level uint8

const (
	None        Level = iota // refused: no identity gives it any level
	LimitedRead              // counters and versions: safe for monitoring agents
	FullRead                 // the live tables, client lists, events
	ReadWrite                // anything that changes the sensor, opens files or listeners
)

var levelNames = [...]string{None: "none", LimitedRead: "limited_read", FullRead: "full_read", ReadWrite: "read_write"}

// Levels are the names ParseLevel accepts, lowest first.
var Levels = []string{"limited_read", "full_read", "read_write"}

func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return fmt.Sprintf("level(%d)", uint8(l))
}

// Allows reports whether a connection at level l may run a command that
// needs need.
func (l Level) Allows(need Level) bool { return l != None && l >= need }

// ParseLevel parses one of Levels (exactly; they are keywords).
func ParseLevel(s string) (Level, error) {
	for i, n := range levelNames {
		if i > 0 && n == s {
			return Level(i), nil
		}
	}
	return None, fmt.Errorf("%q is not a level (limited_read, full_read or read_write)", s)
}
