package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// MaxAllow bounds the runtime allowlist in Redis (access.MaxRuntimeAllow
// says the same; this package imports nothing of tapline): a writer of the
// shared set must not make every sensor read megabytes each second.
const MaxAllow = 1024

// maxAllowEntry bounds one member: an IPv6 CIDR is at most 43 bytes.
const maxAllowEntry = 64

// AllowCleared is the value of keyAllowlistCleared: when an operator's
// `allowlist remove` emptied the set.
type AllowCleared struct {
	At time.Time `json:"at"`
}

// AddAllow adds cidr to keyAllowlist, removes keyAllowlistCleared (in one
// MULTI: the set is not empty by an operator's decision any more) and
// publishes eventAllowlist. A set already at MaxAllow refuses it.
func (s *Store) AddAllow(ctx context.Context, cidr string) error {
	if len(cidr) > maxAllowEntry {
		return fmt.Errorf("redisstore: allowlist entry longer than %d bytes", maxAllowEntry)
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	n, err := s.rdb.SCard(ctx, keyAllowlist).Result()
	if err != nil {
		return fmt.Errorf("redisstore: scard %s: %w", keyAllowlist, err)
	}
	if n >= MaxAllow {
		return fmt.Errorf("redisstore: %s is full (%d entries)", keyAllowlist, MaxAllow)
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, keyAllowlist, cidr)
		p.Del(ctx, keyAllowlistCleared)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore: sadd %s: %w", keyAllowlist, err)
	}
	return s.publish(ctx, eventAllowlist)
}

// removeRetries bounds the optimistic transaction of RemoveAllow against
// concurrent writers of the set.
const removeRetries = 5

// RemoveAllow removes cidr from keyAllowlist and publishes eventAllowlist.
// When that leaves the set empty (also when cidr was not in it: an
// operator on a sensor that kept entries Redis lost confirms the loss) it
// sets keyAllowlistCleared in the same transaction, so sensors tell this
// explicit "empty" from a set Redis lost (they keep their entries then).
// WATCH makes "leaves it empty" exact against a concurrent AddAllow.
func (s *Store) RemoveAllow(ctx context.Context, cidr string) (existed bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	marker, err := json.Marshal(AllowCleared{At: time.Now().UTC()})
	if err != nil {
		return false, fmt.Errorf("redisstore: encode %s: %w", keyAllowlistCleared, err)
	}
	for range removeRetries {
		err = s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			n, err := tx.SCard(ctx, keyAllowlist).Result()
			if err != nil {
				return err
			}
			member, err := tx.SIsMember(ctx, keyAllowlist, cidr).Result()
			if err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.SRem(ctx, keyAllowlist, cidr)
				if n == 0 || (n == 1 && member) {
					p.Set(ctx, keyAllowlistCleared, marker, 0)
				}
				return nil
			})
			existed = member
			return err
		}, keyAllowlist)
		if !errors.Is(err, redis.TxFailedErr) {
			break
		}
	}
	if err != nil {
		return false, fmt.Errorf("redisstore: srem %s: %w", keyAllowlist, err)
	}
	return existed, s.publish(ctx, eventAllowlist)
}

// ListAllow reads keyAllowlist. A set over MaxAllow members is an error
// (ErrBadValue): it is not read at all. Only when the set is empty (or
// gone) is keyAllowlistCleared read: cleared reports the operator's
// marker, without which an empty set means Redis lost it.
func (s *Store) ListAllow(ctx context.Context) (entries []string, cleared bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	n, err := s.rdb.SCard(ctx, keyAllowlist).Result()
	if err != nil {
		return nil, false, fmt.Errorf("redisstore: scard %s: %w", keyAllowlist, err)
	}
	if n > MaxAllow {
		return nil, false, fmt.Errorf("%w: %s has %d members (at most %d)", ErrBadValue, keyAllowlist, n, MaxAllow)
	}
	if n == 0 {
		var m AllowCleared
		ok, err := s.getJSON(ctx, keyAllowlistCleared, &m)
		if err != nil {
			return nil, false, err
		}
		return nil, ok, nil
	}
	out, err := s.rdb.SMembers(ctx, keyAllowlist).Result()
	if err != nil {
		return nil, false, fmt.Errorf("redisstore: smembers %s: %w", keyAllowlist, err)
	}
	return out, false, nil
}
