package redisstore

import (
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestAllowlistSet(t *testing.T) {
	_, st := setup(t)
	ctx := tctx(t)
	events := st.Subscribe(ctx)
	<-events // the first (re)connect
	if err := st.AddAllow(ctx, "10.0.0.0/8"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-events:
	case <-time.After(5 * time.Second):
		t.Fatal("no event after AddAllow")
	}
	if err := st.AddAllow(ctx, "192.0.2.0/24"); err != nil {
		t.Fatal(err)
	}
	got, cleared, err := st.ListAllow(ctx)
	slices.Sort(got)
	if err != nil || cleared || !slices.Equal(got, []string{"10.0.0.0/8", "192.0.2.0/24"}) {
		t.Fatalf("list: %v %v %v", got, cleared, err)
	}
	if existed, err := st.RemoveAllow(ctx, "10.0.0.0/8"); err != nil || !existed {
		t.Fatalf("remove: %v %v", existed, err)
	}
	if existed, _ := st.RemoveAllow(ctx, "10.0.0.0/8"); existed {
		t.Fatal("removed twice")
	}
	if err := st.AddAllow(ctx, string(make([]byte, 100))); err == nil {
		t.Fatal("an overlong entry was stored")
	}
}

func TestAllowlistBound(t *testing.T) {
	_, st := setup(t)
	ctx := tctx(t)
	members := make([]any, 0, MaxAllow+1)
	for i := range MaxAllow + 1 {
		members = append(members, "10.0."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256))
	}
	if err := st.rdb.SAdd(ctx, keyAllowlist, members...).Err(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.ListAllow(ctx); !errors.Is(err, ErrBadValue) {
		t.Fatalf("an oversized set was read: %v", err)
	}
	if err := st.AddAllow(ctx, "192.0.2.1"); err == nil {
		t.Fatal("added to a full set")
	}
}

// TestAllowlistClearedMarker is the store's half of attack report F4: an
// empty set means "cleared" only with the operator's marker, which the
// `allowlist remove` that empties the set writes and `allowlist add`
// removes; a set Redis lost (DEL, FLUSHALL) has no marker.
func TestAllowlistClearedMarker(t *testing.T) {
	_, st := setup(t)
	exerciseAllowlist(t, st)
}

// exerciseAllowlist runs the marker's rules against st (also under
// TestACL's confined user).
func exerciseAllowlist(t *testing.T, st *Store) {
	t.Helper()
	ctx := tctx(t)
	list := func(step string, want []string, wantCleared bool) {
		t.Helper()
		got, cleared, err := st.ListAllow(ctx)
		slices.Sort(got)
		if err != nil || cleared != wantCleared || !slices.Equal(got, want) {
			t.Fatalf("%s: ListAllow = %v, cleared %v, %v; want %v, cleared %v", step, got, cleared, err, want, wantCleared)
		}
	}
	list("never used", nil, false)
	for _, c := range []string{"10.0.0.0/8", "192.0.2.0/24"} {
		if err := st.AddAllow(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.RemoveAllow(ctx, "10.0.0.0/8"); err != nil {
		t.Fatal(err)
	}
	list("one entry left", []string{"192.0.2.0/24"}, false)
	if n, _ := st.rdb.Exists(ctx, keyAllowlistCleared).Result(); n != 0 {
		t.Fatal("a remove that left an entry set the marker")
	}
	if existed, err := st.RemoveAllow(ctx, "192.0.2.0/24"); err != nil || !existed {
		t.Fatalf("remove the last: %v %v", existed, err)
	}
	list("the last removed", nil, true)
	if err := st.AddAllow(ctx, "198.51.100.7"); err != nil {
		t.Fatal(err)
	}
	list("added again", []string{"198.51.100.7"}, false)
	if n, _ := st.rdb.Exists(ctx, keyAllowlistCleared).Result(); n != 0 {
		t.Fatal("add left the marker behind")
	}
	// Redis loses the set: empty, and no marker.
	if err := st.rdb.Del(ctx, keyAllowlist).Err(); err != nil {
		t.Fatal(err)
	}
	list("set lost", nil, false)
	// An operator confirms the loss by removing an entry the set no longer has.
	if existed, err := st.RemoveAllow(ctx, "198.51.100.7"); err != nil || existed {
		t.Fatalf("remove from the lost set: %v %v", existed, err)
	}
	list("loss confirmed", nil, true)
	if err := st.rdb.Del(ctx, keyAllowlistCleared).Err(); err != nil {
		t.Fatal(err)
	}
}
