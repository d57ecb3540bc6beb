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
	got, err := st.ListAllow(ctx)
	slices.Sort(got)
	if err != nil || !slices.Equal(got, []string{"10.0.0.0/8", "192.0.2.0/24"}) {
		t.Fatalf("list: %v %v", got, err)
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
	if _, err := st.ListAllow(ctx); !errors.Is(err, ErrBadValue) {
		t.Fatalf("an oversized set was read: %v", err)
	}
	if err := st.AddAllow(ctx, "192.0.2.1"); err == nil {
		t.Fatal("added to a full set")
	}
}
