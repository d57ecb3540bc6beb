package commands

import (
	"fmt"
	"log/slog"
)

// Split separates the command word from its arguments: the word ends at the
// first blank, leading blanks are skipped, trailing blanks are dropped from
// the arguments. No allocation.
func Split(line []byte) (name, args []byte) {
	i := 0
	for i < len(line) && isBlank(line[i]) {
		i++
	}
	j := i
	for j < len(line) && !isBlank(line[j]) {
		j++
	}
	name = line[i:j]
	for j < len(line) && isBlank(line[j]) {
		j++
	}
	end := len(line)
	for end > j && isBlank(line[end-1]) {
		end--
	}
	return name, line[j:end]
}

// Run executes req.Cmd into rep: it checks the arguments (splitting them
// once, for this request) and calls the handler. A panicking handler fails its one request instead
// of taking the process down.
func Run(req *Request, rep *Reply) {
	defer func() {
		if p := recover(); p != nil {
			slog.Error("command panicked", "cmd", req.Cmd.Name, "panic", fmt.Sprint(p))
			rep.Fail(CodeFailed, "internal error in "+req.Cmd.Name)
		}
	}()
	req.argv.valid = false // split on first use: most requests have no arguments
	if err := req.checkArgs(); err != nil {
		rep.Fail(CodeInvalid, req.Cmd.Name+": "+err.Error())
		return
	}
	req.Cmd.Handler(req, rep)
}

// NotFound fills rep with VoIPmonitor's unknown-command reply.
func NotFound(rep *Reply) {
	rep.FailText(CodeUnknownCommand, "command not found", "command not found\n")
}
