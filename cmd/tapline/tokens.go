package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"tapline/access"
	"tapline/config"
	"tapline/redisstore"
	"tapline/tokens"
)

// tokensCmd manages access tokens (the auth daemon's and Hermes' model):
// in Redis when the config names one, else in manager_tokens_file.
func tokensCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{Use: "tokens", Short: "create, list or revoke access tokens"}
	cmd.PersistentFlags().StringVarP(&file, "config", "c", "", "configuration file (redis, manager_tokens_file)")
	load := func() (config.Config, error) {
		cfg, _, err := readConfig(file)
		return cfg, err
	}
	cmd.AddCommand(tokensCreateCmd(load), tokensListCmd(load), tokensRevokeCmd(load), tokensPruneCmd(load))
	return cmd
}

func tokensCreateCmd(load func() (config.Config, error)) *cobra.Command {
	var level, cidrs, name string
	var ttl time.Duration
	var renew bool
	c := &cobra.Command{
		Use:   "create --level L [--ttl D [--renew]] [--cidr C,...] [--name N]",
		Short: "create a token; prints its id on the first line and the token, once, on the last",
		Long: `Create an access token carrying a level (limited_read, full_read or
read_write). Only a hash of its secret is stored: the token is printed
once, at the end of the last line of output, and cannot be shown again.

--ttl D: the token expires D after it is created; with --renew each use
pushes the expiry to D after that use (a session key kept alive by use).
--cidr: the token is refused from addresses outside these ranges.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cidrGiven(cmd.Flags().Changed("cidr"), cidrs); err != nil {
				return &exitError{2, err}
			}
			r, err := newRecord(level, cidrs, name, ttl, renew, time.Now())
			if err != nil {
				return &exitError{2, err}
			}
			id, text, h, err := tokens.Generate(nil)
			if err != nil {
				return &exitError{1, err}
			}
			r.ID, r.Hash = id, h
			return withTokens(load, func(ctx context.Context, b tokenBackend) error {
				if err := b.create(ctx, r); err != nil {
					return err
				}
				fmt.Printf("created token %s\n", id)
				fmt.Printf("level %s, expires %s, cidrs %s, store %s\n", r.Level, when(r.Expires, "never"), cidrText(r.CIDRs), b.name())
				fmt.Printf("token (shown once, keep it secret): %s\n", text)
				return nil
			})
		}}
	f := c.Flags()
	f.StringVar(&level, "level", "", "limited_read, full_read or read_write (required)")
	f.DurationVar(&ttl, "ttl", 0, "lifetime, e.g. 24h (0: never expires)")
	f.BoolVar(&renew, "renew", false, "each use pushes the expiry to now+ttl")
	f.StringVar(&cidrs, "cidr", "", "comma separated addresses or CIDRs the token may be used from")
	f.StringVar(&name, "name", "", "a label for listings and logs")
	return c
}

// errEmptyCIDR: an empty --cidr ("--cidr="") names no address. Taking it as "any address"
// would turn a restriction whose variable came out empty into none.
var errEmptyCIDR = errors.New("--cidr: no address or CIDR given; omit --cidr for a token usable from any address")

// cidrGiven refuses a --cidr flag that was given but lists nothing.
func cidrGiven(given bool, text string) error {
	if !given {
		return nil
	}
	ps, err := access.ParsePrefixes(text)
	if err == nil && len(ps) == 0 {
		return errEmptyCIDR
	}
	return nil // a parse error is newRecord's to report
}

// newRecord validates the create flags into a record (no id or hash yet).
func newRecord(level, cidrs, name string, ttl time.Duration, renew bool, now time.Time) (tokens.Record, error) {
	lv, err := access.ParseLevel(level)
	if err != nil {
		return tokens.Record{}, fmt.Errorf("--level: %w", err)
	}
	ps, err := access.ParsePrefixes(cidrs)
	if err != nil {
		return tokens.Record{}, fmt.Errorf("--cidr: %w", err)
	}
	if len(ps) > tokens.MaxCIDRs {
		return tokens.Record{}, fmt.Errorf("--cidr: more than %d ranges", tokens.MaxCIDRs)
	}
	if ttl < 0 || (ttl > 0 && ttl < time.Second) || ttl > tokens.MaxTTL || (renew && ttl == 0) {
		return tokens.Record{}, errors.New("--ttl: from 1s to ten years; --renew needs --ttl")
	}
	if err := tokens.ValidName(name); err != nil {
		return tokens.Record{}, fmt.Errorf("--name: %w", err)
	}
	r := tokens.Record{Name: name, Level: lv, CIDRs: ps, Created: now.UTC().Truncate(time.Second), TTL: ttl, Renew: renew}
	if ttl > 0 {
		r.Expires = now.Add(ttl).UTC()
	}
	return r, nil
}

func tokensListCmd(load func() (config.Config, error)) *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "list tokens (never their secrets)", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return withTokens(load, func(ctx context.Context, b tokenBackend) error {
				recs, err := b.list(ctx)
				if err != nil {
					return err
				}
				slices.SortFunc(recs, func(a, b tokens.Record) int { return a.Created.Compare(b.Created) })
				printTokens(recs, time.Now())
				return nil
			})
		}}
}

func printTokens(recs []tokens.Record, now time.Time) {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tLEVEL\tCIDRS\tCREATED\tEXPIRES\tLAST USED\tSTATE")
	for _, r := range recs {
		exp := when(r.Expires, "never")
		if r.Renew {
			exp += " (renew " + r.TTL.String() + ")"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, orDash(r.Name), r.Level, cidrText(r.CIDRs),
			when(r.Created, "-"), exp, when(r.LastUsed, "never"), state(r, now))
	}
	_ = w.Flush()
}

func state(r tokens.Record, now time.Time) string {
	switch {
	case !r.Revoked.IsZero():
		return "revoked " + r.Revoked.Format(time.RFC3339)
	case !r.Expires.IsZero() && !now.Before(r.Expires):
		return "expired"
	}
	return "active"
}

func tokensRevokeCmd(load func() (config.Config, error)) *cobra.Command {
	return &cobra.Command{
		Use: "revoke ID", Short: "revoke a token (every sensor refuses it within a second)", Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			id := args[0]
			if !tokens.ValidID(id) {
				return &exitError{2, fmt.Errorf("%q is not a token id (%d hex digits)", trunc(id), tokens.IDLen)}
			}
			return withTokens(load, func(ctx context.Context, b tokenBackend) error {
				if err := b.revoke(ctx, id, time.Now().UTC()); err != nil {
					return err
				}
				fmt.Printf("revoked token %s\n", id)
				return nil
			})
		}}
}

func tokensPruneCmd(load func() (config.Config, error)) *cobra.Command {
	var age time.Duration
	c := &cobra.Command{
		Use: "prune [--older D]", Short: "delete tokens revoked or expired more than D ago (default 24h)", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return withTokens(load, func(ctx context.Context, b tokenBackend) error {
				recs, err := b.list(ctx)
				if err != nil {
					return err
				}
				cut := time.Now().Add(-age)
				var ids []string
				for _, r := range recs {
					if (!r.Revoked.IsZero() && r.Revoked.Before(cut)) || (!r.Expires.IsZero() && r.Expires.Before(cut)) {
						ids = append(ids, r.ID)
					}
				}
				if err := b.remove(ctx, ids); err != nil {
					return err
				}
				fmt.Printf("pruned %d tokens\n", len(ids))
				return nil
			})
		}}
	c.Flags().DurationVar(&age, "older", 24*time.Hour, "how long ago they must have ended")
	return c
}

func when(t time.Time, zero string) string {
	if t.IsZero() {
		return zero
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func cidrText(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "any"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// tokenBackend is where the CLI keeps tokens.
type tokenBackend interface {
	name() string
	list(ctx context.Context) ([]tokens.Record, error)
	create(ctx context.Context, r tokens.Record) error
	revoke(ctx context.Context, id string, at time.Time) error
	remove(ctx context.Context, ids []string) error
}

// withTokens runs f on the config's token store: Redis if configured,
// else manager_tokens_file.
func withTokens(load func() (config.Config, error), f func(context.Context, tokenBackend) error) error {
	cfg, err := load()
	if err != nil {
		return &exitError{2, err}
	}
	if cfg.Redis != "" {
		return withStore(load, func(ctx context.Context, st *redisstore.Store) error { return f(ctx, redisTokens{st}) })
	}
	if cfg.TokensFile == "" {
		return &exitError{2, errNoTokenStore}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f(ctx, fileTokens{cfg.TokensFile}); err != nil {
		return &exitError{1, err}
	}
	return nil
}

func (r redisTokens) name() string { return "redis" }

func (r redisTokens) list(ctx context.Context) ([]tokens.Record, error) { return r.Load(ctx) }

func (r redisTokens) create(ctx context.Context, rec tokens.Record) error {
	b, err := rec.MarshalJSON()
	if err != nil {
		return err
	}
	return r.st.PutToken(ctx, rec.ID, string(b), true)
}

func (r redisTokens) revoke(ctx context.Context, id string, at time.Time) error {
	v, ok, err := r.st.Token(ctx, id)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no token %s", id)
	}
	var rec tokens.Record
	if err := rec.UnmarshalJSON([]byte(v)); err != nil {
		return fmt.Errorf("token %s: %w", id, err)
	}
	if rec.Revoked.IsZero() {
		rec.Revoked = at
	}
	b, err := rec.MarshalJSON()
	if err != nil {
		return err
	}
	return r.st.PutToken(ctx, id, string(b), false)
}

func (r redisTokens) remove(ctx context.Context, ids []string) error {
	return r.st.DeleteTokens(ctx, ids...)
}

// fileTokens is manager_tokens_file; every change holds an exclusive lock
// on FILE.lock so that two CLI runs cannot lose each other's change.
type fileTokens struct{ path string }

func (f fileTokens) name() string { return "file " + f.path }

func (f fileTokens) list(context.Context) ([]tokens.Record, error) {
	recs, err := tokens.ReadFile(f.path)
	tokens.MergeUsed(recs, f.path)
	return recs, err
}

func (f fileTokens) change(mod func([]tokens.Record) ([]tokens.Record, error)) error {
	if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
		return err
	}
	lock, err := os.OpenFile(f.path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	recs, err := tokens.ReadFile(f.path)
	if err != nil {
		return err
	}
	if recs, err = mod(recs); err != nil {
		return err
	}
	return tokens.WriteFile(f.path, recs)
}

func (f fileTokens) create(_ context.Context, r tokens.Record) error {
	return f.change(func(recs []tokens.Record) ([]tokens.Record, error) {
		if len(recs) >= tokens.MaxTokens {
			return nil, fmt.Errorf("%s holds %d tokens already (at most %d); revoke and prune some", f.path, len(recs), tokens.MaxTokens)
		}
		return append(recs, r), nil
	})
}

func (f fileTokens) revoke(_ context.Context, id string, at time.Time) error {
	return f.change(func(recs []tokens.Record) ([]tokens.Record, error) {
		for i := range recs {
			if recs[i].ID == id {
				if recs[i].Revoked.IsZero() {
					recs[i].Revoked = at
				}
				return recs, nil
			}
		}
		return nil, fmt.Errorf("no token %s", id)
	})
}

func (f fileTokens) remove(_ context.Context, ids []string) error {
	return f.change(func(recs []tokens.Record) ([]tokens.Record, error) {
		return slices.DeleteFunc(recs, func(r tokens.Record) bool { return slices.Contains(ids, r.ID) }), nil
	})
}
