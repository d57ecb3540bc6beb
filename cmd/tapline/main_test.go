package main

import (
	"slices"
	"testing"
)

func TestJoinBoolValues(t *testing.T) {
	tests := []struct{ in, want []string }{
		{[]string{"serve", "--replay-loop", "--sipport", "5060"}, []string{"serve", "--replay-loop", "--sipport", "5060"}},
		{[]string{"serve", "--manager-enable-unencrypted", "yes"}, []string{"serve", "--manager-enable-unencrypted=yes"}},
		{[]string{"serve", "--replay-loop", "NO", "--x"}, []string{"serve", "--replay-loop=NO", "--x"}},
		{[]string{"serve", "--managerport", "1"}, []string{"serve", "--managerport", "1"}},
	}
	for _, tt := range tests {
		if got := joinBoolValues(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("joinBoolValues(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
