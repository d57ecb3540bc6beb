package redisstore

import (
	"strings"
	"testing"
)

// exerciseTokens runs every token call once against s and checks what it
// reads back (also under TestACL's confined user).
func exerciseTokens(t *testing.T, s *Store) {
	t.Helper()
	ctx := tctx(t)
	v0, err := s.TokensVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const id = "0123456789abcdef"
	if err := s.PutToken(ctx, id, `{"a":1}`, true); err != nil {
		t.Fatal(err)
	}
	if err := s.PutToken(ctx, id, `{"a":2}`, true); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("second create: %v", err)
	}
	if err := s.PutToken(ctx, id, `{"a":3}`, false); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteTokenUses(ctx, map[string]string{id: `{"u":1}`}); err != nil {
		t.Fatal(err)
	}
	v1, _ := s.TokensVersion(ctx)
	recs, used, err := s.Tokens(ctx)
	if err != nil || recs[id] != `{"a":3}` || used[id] != `{"u":1}` || v1 == v0 || v1 == "" {
		t.Fatalf("Tokens = %v %v %v, version %q → %q", recs, used, err, v0, v1)
	}
	if rec, ok, err := s.Token(ctx, id); !ok || err != nil || rec != `{"a":3}` {
		t.Fatalf("Token = %q %v %v", rec, ok, err)
	}
	if err := s.DeleteTokens(ctx, id); err != nil {
		t.Fatal(err)
	}
	recs, used, _ = s.Tokens(ctx)
	if v2, _ := s.TokensVersion(ctx); len(recs)+len(used) != 0 || v2 == v1 || v2 == v0 {
		t.Fatalf("after delete: %v %v version %q", recs, used, v2)
	}
	if _, ok, err := s.Token(ctx, id); ok || err != nil {
		t.Fatalf("deleted token: %v %v", ok, err)
	}
}

func TestTokens(t *testing.T) {
	_, s := setup(t)
	exerciseTokens(t, s)
}

// TestTokensBounded: a hash over MaxTokens is refused whole, not loaded.
func TestTokensBounded(t *testing.T) {
	srv, s := setup(t)
	ctx := tctx(t)
	args := []any{}
	for i := range MaxTokens + 1 {
		args = append(args, i, "{}")
	}
	if err := srv.Client().HSet(ctx, keyTokens, args...).Err(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Tokens(ctx); err == nil {
		t.Fatal("over the bound, loaded")
	}
	if err := s.PutToken(ctx, "0123456789abcdef", "{}", true); err == nil {
		t.Fatal("created beyond the bound")
	}
}
