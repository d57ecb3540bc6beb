package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"

	"tapline/config"
	"tapline/redisstore"
	"tapline/server"
	"tapline/tokens"
)

// redisTokens is the token store in Redis, as a tokens.Source for the
// server's Watch and as the CLI's backend.
type redisTokens struct{ st *redisstore.Store }

func (r redisTokens) Name() string { return "redis" }

func (r redisTokens) Version(ctx context.Context) (string, error) {
	return r.st.TokensVersion(ctx)
}

// Load decodes every record; one that does not decode is skipped and
// logged (its token is refused), the others load.
func (r redisTokens) Load(ctx context.Context) ([]tokens.Record, error) {
	raw, used, err := r.st.Tokens(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]tokens.Record, 0, len(raw))
	for id, v := range raw {
		var rec tokens.Record
		if err := json.Unmarshal([]byte(v), &rec); err != nil || rec.ID != id {
			slog.Error("tokens: invalid record in redis, refused", "id", strconv.Quote(trunc(id)), "err", err)
			continue
		}
		if u, ok := used[id]; ok {
			if use, err := tokens.DecodeUse(id, []byte(u)); err == nil {
				tokens.ApplyUse(&rec, use)
			}
		}
		out = append(out, rec)
	}
	return out, nil
}

func (r redisTokens) WriteBack(ctx context.Context, uses []tokens.Use) error {
	m := make(map[string]string, len(uses))
	for _, u := range uses {
		m[u.ID] = string(tokens.EncodeUse(u))
	}
	return r.st.WriteTokenUses(ctx, m)
}

func trunc(s string) string {
	if len(s) > 32 {
		return s[:32]
	}
	return s
}

// tokenSource is where cfg keeps its tokens: Redis when configured, else
// manager_tokens_file; nil when neither (tokens are then refused: the
// auth command answers that none are configured).
func tokenSource(cfg config.Config, st *redisstore.Store) tokens.Source {
	switch {
	case st != nil:
		return redisTokens{st}
	case cfg.TokensFile != "":
		return &tokens.FileSource{Path: cfg.TokensFile}
	}
	return nil
}

// tokenWatcher gives the server the Set it checks tokens against and
// keeps it current (tokens.Watch), and follows manager_tokens_file across
// reloads: a new file gets a new Set (read within Watch's poll), the old
// Set's tokens are retired so sessions they authenticated end at their
// next request, and no file (and no Redis) means no tokens at all. With
// Redis the tokens live there, whatever the file says.
type tokenWatcher struct {
	ctx    context.Context
	st     *redisstore.Store
	srv    *server.Server
	file   string
	set    *tokens.Set
	cancel context.CancelFunc
}

// apply installs cfg's token store; at start and after each reload (the
// server serializes reloads).
func (w *tokenWatcher) apply(cfg config.Config) {
	if w.set != nil && (w.st != nil || cfg.TokensFile == w.file) {
		return
	}
	if w.cancel != nil {
		w.cancel()
		w.set.Replace(nil) // retire the old file's tokens
		w.cancel, w.set = nil, nil
	}
	w.file = cfg.TokensFile
	src := tokenSource(cfg, w.st)
	if src == nil {
		w.srv.UseTokens(nil)
		return
	}
	ctx, cancel := context.WithCancel(w.ctx)
	w.set, w.cancel = tokens.NewSet(), cancel
	go tokens.Watch(ctx, w.set, src, slog.Default())
	w.srv.UseTokens(w.set)
}

// errNoTokenStore: the CLI has nowhere to keep tokens.
var errNoTokenStore = fmt.Errorf("no token store: set redis = … or manager_tokens_file = PATH in the config file (-c)")
