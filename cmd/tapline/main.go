// Command tapline is the VoIP monitoring sensor and its manager client.
// This file only wires subcommands to the packages that do the work.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"tapline/version"
)

func main() {
	root := &cobra.Command{
		Use:           "tapline",
		Short:         "VoIP monitoring sensor with a VoIPmonitor-compatible manager socket",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCmd(), sendCmd(), keysCmd(), versionCmd())
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
