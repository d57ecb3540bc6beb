package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"

	"tapline/config"
	"tapline/redisstore"
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

// startTokens builds the Set the server checks and keeps it current.
func startTokens(ctx context.Context, cfg config.Config, st *redisstore.Store) *tokens.Set {
	src := tokenSource(cfg, st)
	if src == nil {
		return nil
	}
	set := tokens.NewSet()
	go tokens.Watch(ctx, set, src, slog.Default())
	return set
}

// errNoTokenStore: the CLI has nowhere to keep tokens.
var errNoTokenStore = fmt.Errorf("no token store: set redis = … or manager_tokens_file = PATH in the config file (-c)")
