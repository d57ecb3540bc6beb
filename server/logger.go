package server

import (
	"fmt"
	"log/slog"
	"os"
)

// gnetLogger routes gnet's own logs through slog instead of its default zap
// logger on stdout. Both engines get it because gnet's default logger is
// process-global.
type gnetLogger struct{}

func (gnetLogger) Debugf(f string, a ...any) { slog.Debug("gnet: " + fmt.Sprintf(f, a...)) }
func (gnetLogger) Infof(f string, a ...any)  { slog.Debug("gnet: " + fmt.Sprintf(f, a...)) }
func (gnetLogger) Warnf(f string, a ...any)  { slog.Warn("gnet: " + fmt.Sprintf(f, a...)) }
func (gnetLogger) Errorf(f string, a ...any) { slog.Error("gnet: " + fmt.Sprintf(f, a...)) }
func (gnetLogger) Fatalf(f string, a ...any) {
	slog.Error("gnet fatal: " + fmt.Sprintf(f, a...))
	os.Exit(1)
}
