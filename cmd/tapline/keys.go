package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"tapline/access"
	"tapline/config"
	"tapline/crypto"
	"tapline/keyring"
	"tapline/redisstore"
)

// keysCmd does the jobs of VoIPmonitor's run.php generate_aes_key |
// store_aes_key | delete_aes_key, against Redis instead of the GUI database.
func keysCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{Use: "keys", Short: "generate, store, delete or show the manager AES key"}
	cmd.PersistentFlags().StringVarP(&file, "config", "c", "", "configuration file (manager_aes_key/iv, redis)")
	load := func() (config.Config, error) {
		cfg, _, err := readConfig(file)
		return cfg, err
	}
	cmd.AddCommand(keysGenerateCmd(), keysStoreCmd(load), keysDeleteCmd(load), keysShowCmd(load))
	return cmd
}

func keysGenerateCmd() *cobra.Command {
	return &cobra.Command{
		Use: "generate", Short: "print a new key and IV (stores nothing)", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			k, err := crypto.GenerateKey()
			if err != nil {
				return &exitError{1, err}
			}
			printKey(k, true)
			return nil
		}}
}

func keysStoreCmd(load func() (config.Config, error)) *cobra.Command {
	var level string
	c := &cobra.Command{
		Use: "store [--level L]", Short: "generate a key, store it in Redis (sensors pick it up at once) and print it", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if level != "" {
				if _, err := access.ParseLevel(level); err != nil {
					return &exitError{2, fmt.Errorf("--level: %w", err)}
				}
			}
			return withStore(load, func(ctx context.Context, st *redisstore.Store) error {
				k, err := crypto.GenerateKey()
				if err != nil {
					return err
				}
				kb, ivb := k.Base64()
				if err := st.SetManagerKey(ctx, redisstore.StoredKey{Key: kb, IV: ivb, Level: level}); err != nil {
					return err
				}
				printKey(k, true)
				if level != "" {
					fmt.Printf("# level %s for requests encrypted with this key (hardened frames; legacy AES requests at most this)\n", level)
				}
				return nil
			})
		}}
	c.Flags().StringVar(&level, "level", "", "access level of requests encrypted with the key, in either framing (default: manager_key_level, read_write)")
	return c
}

func keysDeleteCmd(load func() (config.Config, error)) *cobra.Command {
	var allowPlaintext bool
	del := &cobra.Command{
		Use: "delete [--allow-plaintext]", Short: "delete the key from Redis (sensors that enforced it keep refusing plaintext)",
		Long: `Delete the manager key from Redis.

A sensor that has enforced a key treats a missing key as an error, whatever
removed it (this command, a Redis restarted without persistence, a failover
to an empty replica): it keeps the last key it loaded, or refuses plaintext
TCP requests with "need aes!" when it has none (after a restart it remembers
the key in statedir), and sniffer_stat shows keys.state "missing".

--allow-plaintext is the operator's decision to run without a key again: it
also writes tapline:plaintext_allowed to Redis, and every sensor that finds
it accepts plaintext TCP requests again (logged at WARN). Storing a new key
removes the marker.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return withStore(load, func(ctx context.Context, st *redisstore.Store) error {
				return deleteKey(ctx, st, allowPlaintext)
			})
		}}
	del.Flags().BoolVar(&allowPlaintext, "allow-plaintext", false,
		"also allow plaintext TCP requests again on sensors that enforced the key")
	return del
}

func keysShowCmd(load func() (config.Config, error)) *cobra.Command {
	var reveal bool
	show := &cobra.Command{
		Use: "show", Short: "show the key in use (fingerprint; --reveal prints the secret)", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			cfg, err := load()
			if err != nil {
				return &exitError{2, err}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			k, lvl, src, err := loadKeyLevel(ctx, cfg)
			if err != nil {
				return &exitError{1, err}
			}
			fmt.Printf("source: %s\ncipher: %s\nfingerprint: %s\nlevel: %s\n", src, k.CipherName(), k.Fingerprint(), lvl)
			if reveal {
				printKey(k, false)
			}
			return nil
		}}
	show.Flags().BoolVar(&reveal, "reveal", false, "also print the key and IV (base64)")
	return show
}

// loadKeyLevel is keyring.Load with the level hardened frames under the
// key get.
func loadKeyLevel(ctx context.Context, cfg config.Config) (crypto.Key, access.Level, string, error) {
	var st *redisstore.Store
	if cfg.AESKey == "" && cfg.Redis != "" {
		var err error
		if st, err = redisstore.Open(cfg.Redis); err != nil {
			return crypto.Key{}, access.None, "", err
		}
		defer st.Close()
	}
	return keyring.LoadLevel(ctx, cfg, st)
}

// deleteKey deletes the stored key and, with allowPlaintext, records the
// operator's permission to serve plaintext again.
func deleteKey(ctx context.Context, st *redisstore.Store, allowPlaintext bool) error {
	var existed bool
	var err error
	if allowPlaintext {
		existed, err = st.AllowPlaintext(ctx, time.Now())
	} else {
		existed, err = st.DeleteManagerKey(ctx)
	}
	if err != nil {
		return err
	}
	fmt.Println(map[bool]string{true: "deleted", false: "no key stored"}[existed])
	if allowPlaintext {
		fmt.Println("plaintext allowed: sensors accept plaintext TCP requests again")
	}
	return nil
}

func withStore(load func() (config.Config, error), f func(context.Context, *redisstore.Store) error) error {
	cfg, err := load()
	if err != nil {
		return &exitError{2, err}
	}
	if cfg.Redis == "" {
		return &exitError{2, fmt.Errorf("no redis configured: set redis = redis://host:port/db in the config file (-c)")}
	}
	st, err := redisstore.Open(cfg.Redis)
	if err != nil {
		return &exitError{2, err}
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f(ctx, st); err != nil {
		return &exitError{1, err}
	}
	return nil
}

// printKey prints the key the way voipmonitor.conf and the GUI take it.
func printKey(k crypto.Key, withJSON bool) {
	kb, ivb := k.Base64()
	fmt.Printf("manager_aes_key = %s\nmanager_aes_iv = %s\n", kb, ivb)
	if withJSON {
		b, _ := json.Marshal(map[string]string{"key": kb, "iv": ivb})
		fmt.Printf("# fingerprint %s, stored form: %s\n", k.Fingerprint(), b)
	}
}
