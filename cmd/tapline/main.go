// Command tapline is the VoIP monitoring sensor and its manager client:
// serve (serve.go), send (send.go), keys (keys.go), bench (bench.go) and
// version. It owns only the wiring: flags, exit codes, and building the
// server, the sensor, the key ring and the commands' environment from one
// configuration. The work is in the packages it imports; nothing imports
// it.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"tapline/config"
	"tapline/version"
)

func main() {
	root := &cobra.Command{
		Use:           "tapline",
		Short:         "VoIP monitoring sensor with a VoIPmonitor-compatible manager socket",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCmd(), sendCmd(), keysCmd(), tokensCmd(), versionCmd(), benchCmd())
	root.SetArgs(joinBoolValues(os.Args[1:]))
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "tapline:", err)
		os.Exit(exitCode(err))
	}
}

// exitError carries a process exit status through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	if e, ok := err.(*exitError); ok {
		return e.code
	}
	return 2
}

// joinBoolValues lets yes/no flags take their value either way: bare
// (--replay-loop), joined (--replay-loop=no) or as the next word
// (--manager-enable-unencrypted yes), as voipmonitor.conf users write them.
func joinBoolValues(args []string) []string {
	bools := map[string]bool{}
	for _, k := range config.Keys() {
		if k.Bool {
			bools["--"+k.Flag] = true
		}
	}
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		if bools[args[i]] && i+1 < len(args) && isBoolWord(args[i+1]) {
			out = append(out, args[i]+"="+args[i+1])
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}

// isBoolWord reports whether s is a value config accepts for a yes/no key.
func isBoolWord(s string) bool {
	_, ok := config.ParseBool(s)
	return ok
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version",
		Args:  cobra.NoArgs,
		Run: func(*cobra.Command, []string) {
			fmt.Println("tapline", version.VerBuild())
		},
	}
}
