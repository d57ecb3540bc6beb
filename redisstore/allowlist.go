package redisstore

import (
	"context"
	"fmt"
)

// MaxAllow bounds the runtime allowlist in Redis (access.MaxRuntimeAllow
// says the same; this package imports nothing of tapline): a writer of the
// shared set must not make every sensor read megabytes each second.
const MaxAllow = 1024

// maxAllowEntry bounds one member: an IPv6 CIDR is at most 43 bytes.
const maxAllowEntry = 64

// AddAllow adds cidr to keyAllowlist and publishes eventAllowlist. A set
// already at MaxAllow refuses it.
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
	if err := s.rdb.SAdd(ctx, keyAllowlist, cidr).Err(); err != nil {
		return fmt.Errorf("redisstore: sadd %s: %w", keyAllowlist, err)
	}
	return s.publish(ctx, eventAllowlist)
}

// RemoveAllow removes cidr from keyAllowlist and publishes eventAllowlist.
func (s *Store) RemoveAllow(ctx context.Context, cidr string) (existed bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	n, err := s.rdb.SRem(ctx, keyAllowlist, cidr).Result()
	if err != nil {
		return false, fmt.Errorf("redisstore: srem %s: %w", keyAllowlist, err)
	}
	return n > 0, s.publish(ctx, eventAllowlist)
}

// ListAllow reads keyAllowlist. A set over MaxAllow members is an error
// (ErrBadValue): it is not read at all.
func (s *Store) ListAllow(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	n, err := s.rdb.SCard(ctx, keyAllowlist).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: scard %s: %w", keyAllowlist, err)
	}
	if n > MaxAllow {
		return nil, fmt.Errorf("%w: %s has %d members (at most %d)", ErrBadValue, keyAllowlist, n, MaxAllow)
	}
	out, err := s.rdb.SMembers(ctx, keyAllowlist).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: smembers %s: %w", keyAllowlist, err)
	}
	return out, nil
}
