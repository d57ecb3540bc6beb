package server

import (
	"strings"
	"testing"
)

func TestParseJSONRequest(t *testing.T) {
	deep := `{"id":1,"cmd":"ping","args":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`
	tests := []struct {
		line, id, cmd, args, msg string
	}{
		{`{"id":1,"cmd":"ping"}`, "1", "ping", "", ""},
		{` {"cmd" : "listcalls", "id" : "gui-7", "args" : {"limit":10}} `, `"gui-7"`, "listcalls", `{"limit":10}`, ""},
		{`{"id":2,"cmd":"p\u0069ng"}`, "2", "ping", "", ""},
		{`{"id":3,"\u0063md":"ping"}`, "3", "ping", "", ""},
		{`{"id":4,"cmd":"help ping"}`, "4", "help ping", "", ""},
		{`{"id":5,"cmd":"ping","cmd":"quit","id":6}`, "5", "ping", "", ""},
		{`{"id":7,"cmd":""}`, "7", "", "", msgNeedsCmd},
		{`{"id":8,"cmd":42}`, "8", "", "", msgNeedsCmd},
		{`{"id":9}`, "9", "", "", msgNeedsCmd},
		{`["ping"]`, "", "", "", msgNeedsCmd},
		{`{"id":10,"cmd":"ping"`, "", "", "", msgInvalidJSON},
		{`{"id":11,"cmd":"ping"} x`, "", "", "", msgInvalidJSON},
		{`ping`, "", "", "", msgInvalidJSON},
		{deep, "", "", "", msgTooDeep},
		{"{\"id\":\"\xff\",\"cmd\":\"ping\"}", "", "", "", msgNotUTF8},
	}
	for _, tt := range tests {
		r, msg := parseJSONRequest([]byte(tt.line))
		if msg != tt.msg || string(r.id) != tt.id || string(r.cmd) != tt.cmd || string(r.args) != tt.args || r.hasArgs != (tt.args != "") {
			t.Errorf("%.60s: got id=%s cmd=%q args=%s (%v) msg=%q; want id=%s cmd=%q args=%s msg=%q",
				tt.line, r.id, r.cmd, r.args, r.hasArgs, msg, tt.id, tt.cmd, tt.args, tt.msg)
		}
	}
}
