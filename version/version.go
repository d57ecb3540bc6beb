// Package version holds the release identity that getversion, getverbuild and
// `tapline version` report.
//
// tapline uses VoIPmonitor's calendar scheme (YYYY.MM.N) on purpose: GUIs
// compare the sniffer version to decide which features (e.g. AES on the
// manager port, added in 2024.02.2) they may use, so a semver like 0.1.0 would
// make an unchanged GUI treat tapline as an ancient sniffer.
//
// It must not import anything: every package may import it.
package version

// Version and Build are overridden at link time by the Makefile
// (-ldflags "-X tapline/version.Build=<git describe>").
var (
	Version = "2026.11.0"
	Build   = "dev"
)

// VerBuild is the getverbuild form: "<version> (<build>)".
func VerBuild() string { return Version + " (" + Build + ")" }
