package tokens

import (
	"context"
	"log/slog"
	"time"
)

// Source is where tokens are stored: a JSON file (FileSource) or Redis
// (adapted in cmd/tapline). Its calls may block briefly (I/O); Watch makes
// them, never Check.
type Source interface {
	// Version is a cheap marker that changes whenever the tokens change.
	Version(ctx context.Context) (string, error)
	// Load reads every token record.
	Load(ctx context.Context) ([]Record, error)
	// WriteBack records the last use (and renewed expiry) of tokens.
	WriteBack(ctx context.Context, uses []Use) error
	// Name says what the source is, for logs ("file /etc/…", "redis").
	Name() string
}

// How often Watch probes the source, and how often it writes back uses:
// a revocation reaches a sensor within PollInterval (plus one load); last
// use and renewed expiries reach the store within WriteBackInterval.
const (
	PollInterval      = 250 * time.Millisecond
	WriteBackInterval = 10 * time.Second
)

// Watch keeps set current with src until ctx ends: it loads at once, then
// probes src's version every PollInterval and reloads when it changed.
// When src fails the last good set stays in force and one line is logged
// per change of state (failing, then recovered).
func Watch(ctx context.Context, set *Set, src Source, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	w := watcher{set: set, src: src, log: log}
	poll := time.NewTicker(PollInterval)
	defer poll.Stop()
	wb := time.NewTicker(WriteBackInterval)
	defer wb.Stop()
	w.poll(ctx)
	for {
		select {
		case <-ctx.Done():
			w.writeBack(context.WithoutCancel(ctx))
			return
		case <-poll.C:
			w.poll(ctx)
		case <-wb.C:
			w.writeBack(ctx)
		}
	}
}

type watcher struct {
	set     *Set
	src     Source
	log     *slog.Logger
	version string
	loaded  bool
	failing bool
}

// poll reloads when the version moved (or nothing was loaded yet).
func (w *watcher) poll(ctx context.Context) {
	v, err := w.src.Version(ctx)
	if err == nil && w.loaded && v == w.version {
		w.recovered()
		return
	}
	var recs []Record
	if err == nil {
		recs, err = w.src.Load(ctx)
	}
	if err != nil {
		if !w.failing {
			w.failing = true
			w.log.Error("tokens: cannot read the token store; the tokens loaded last stay in force until their expiry, unknown tokens are refused",
				"source", w.src.Name(), "loaded", w.set.Len(), "err", err)
		}
		return
	}
	w.recovered()
	if refused := w.set.Replace(recs); refused > 0 {
		w.log.Error("tokens: records refused (invalid, duplicate or over the limit)", "source", w.src.Name(),
			"refused", refused, "limit", MaxTokens)
	}
	if !w.loaded || v != w.version {
		w.log.Info("tokens loaded", "source", w.src.Name(), "tokens", w.set.Len())
	}
	w.version, w.loaded = v, true
}

func (w *watcher) recovered() {
	if w.failing {
		w.failing = false
		w.log.Info("tokens: token store readable again", "source", w.src.Name())
	}
}

// writeBack hands the uses since the last call to the source. Uses that
// cannot be written are not retried: the next use writes a later one.
func (w *watcher) writeBack(ctx context.Context) {
	uses := w.set.Uses()
	if len(uses) == 0 {
		return
	}
	if err := w.src.WriteBack(ctx, uses); err != nil {
		w.log.Warn("tokens: last use not written back", "source", w.src.Name(), "tokens", len(uses), "err", err)
	}
}
