package keyring

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"tapline/crypto"
	"tapline/redisstore"
)

// Watch keeps the ring equal to the key stored in Redis until ctx ends. A
// pub/sub event (sent by `tapline keys store|delete`) triggers a reload at
// once; a periodic re-read covers lost events, so a change takes effect
// within poll. While Redis is unreachable the last key keeps serving and the
// re-read backs off up to maxBackoff; one log line marks each state change.
func (r *Ring) Watch(ctx context.Context, st *redisstore.Store, poll time.Duration) {
	const maxBackoff = 10 * time.Second
	events := st.Subscribe(ctx)
	loaded := false
	wait := time.Duration(0)
	lastState := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-events:
		case <-time.After(wait):
		}
		state, err := r.load(ctx, st)
		if err == nil || state == "bad_key" {
			loaded = loaded || err == nil
			wait = poll
		} else {
			wait = min(max(2*wait, poll), maxBackoff)
		}
		if state != lastState {
			logState(state, err, lastState)
			lastState = state
		}
		if err != nil {
			r.SetState(state, err.Error(), !loaded)
		}
	}
}

func (r *Ring) load(ctx context.Context, st *redisstore.Store) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	sk, ok, err := st.GetManagerKey(cctx)
	if err != nil {
		return "redis_down", err
	}
	if !ok {
		r.Set(nil, time.Now())
		return "no_key", nil
	}
	k, err := crypto.ParseKey(sk.Key, sk.IV)
	if err != nil {
		return "bad_key", errors.Join(errors.New("stored manager key is invalid"), err)
	}
	r.Set(&k, time.Now())
	return "ok", nil
}

func logState(state string, err error, prev string) {
	switch {
	case err != nil:
		slog.Warn("manager key source", "source", "redis", "state", state, "err", err)
	case prev == "" || prev == "redis_down" || prev == "bad_key" || state != "ok":
		slog.Info("manager key source", "source", "redis", "state", state)
	}
}
