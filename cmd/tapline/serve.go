package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"tapline/commands"
	"tapline/config"
	"tapline/keyring"
	"tapline/redisstore"
	"tapline/sensor"
	"tapline/server"
	"tapline/version"
)

func serveCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "serve [-c FILE] [flags]",
		Short: "run the sensor and its manager socket",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(file, cmd.Flags())
			if err != nil {
				return &exitError{2, err}
			}
			return serve(cfg, rereadConfig(file, cmd.Flags()))
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "", "configuration file in voipmonitor.conf syntax")
	addKeyFlags(cmd.Flags())
	return cmd
}

// addKeyFlags registers one flag per config key, so flags and file keys
// can never drift apart. The help is Markdown (docs/CONFIG.md); its
// backquotes go, since pflag would take the first quoted word for the
// flag's value name.
func addKeyFlags(fs *pflag.FlagSet) {
	for _, k := range config.Keys() {
		fs.String(k.Flag, k.Default, strings.ReplaceAll(k.Help, "`", ""))
		if k.Bool {
			fs.Lookup(k.Flag).NoOptDefVal = "yes" // --replay-loop alone means yes
		}
	}
}

// readConfig reads the file, or returns the defaults when file is "".
func readConfig(file string) (config.Config, []config.Warning, error) {
	if file == "" {
		return config.Default(), nil, nil
	}
	return config.Load(file)
}

// readWithFlags reads the file (if any), applies the flags the user set
// on top and validates the result: at start and for every reload.
func readWithFlags(file string, fs *pflag.FlagSet) (config.Config, []config.Warning, error) {
	cfg, warns, err := readConfig(file)
	if err != nil {
		return cfg, nil, err
	}
	for _, k := range config.Keys() {
		if f := fs.Lookup(k.Flag); f != nil && f.Changed {
			if err := cfg.Set(k.Name, f.Value.String()); err != nil {
				return cfg, nil, fmt.Errorf("flag --%s: %w", k.Flag, err)
			}
		}
	}
	return cfg, warns, cfg.Validate()
}

// loadConfig reads the file (if any), then applies the flags the user set.
func loadConfig(file string, fs *pflag.FlagSet) (config.Config, error) {
	cfg, warns, err := readWithFlags(file, fs)
	if err != nil {
		return cfg, err
	}
	setupLogging(cfg)
	logWarnings(warns)
	if err := securityNearMiss(warns); err != nil {
		return cfg, err // the sensor would run without a protection its operator asked for
	}
	return cfg, nil
}

// logWarnings reports the config file's warnings at start. A real
// voipmonitor.conf has dozens of keys tapline does not use, so unknown keys
// are listed once, on one line, and only near misses of a known key get a
// line of their own, "did you mean", at ERROR when the key is a security
// key (reids = … leaves the sensor without its Redis key source); such a
// near miss then stops the start, as it refuses a reload. No
// attribute is named "msg": the JSON handler would write that key twice.
func logWarnings(warns []config.Warning) {
	var unknown []string
	file := ""
	for _, w := range warns {
		if !w.Unknown() {
			slog.Warn("config: line ignored", "file", w.File, "line", w.Line, "reason", w.Msg)
			continue
		}
		if w.Suggest != "" {
			lvl, effect := slog.LevelWarn, "ignored"
			if w.Security {
				lvl, effect = slog.LevelError, "ignored: the security setting "+w.Suggest+" is not applied"
			}
			slog.Log(context.Background(), lvl, "config: unknown key, did you mean "+w.Suggest+"?",
				"file", w.File, "line", w.Line, "key", w.Key, "did_you_mean", w.Suggest, "effect", effect)
		}
		file = w.File
		unknown = append(unknown, w.Key+":"+strconv.Itoa(w.Line))
	}
	if len(unknown) > 0 {
		slog.Warn("config: unknown keys ignored", "file", file, "count", len(unknown), "keys", strings.Join(unknown, " "))
	}
}

func setupLogging(cfg config.Config) {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(os.Stderr, opts)
	}
	slog.SetDefault(slog.New(h))
}

// serve runs until SIGINT/SIGTERM (exit 0 after a bounded drain) or until a
// listener dies on its own (exit 1: a supervisor should restart us). SIGHUP
// re-reads the config's access settings (reread), like the reload command.
func serve(cfg config.Config, reread func() (config.Config, error)) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// SIGHUP's default action kills the process without a drain and leaves
	// the socket file behind; operators send it expecting a reload.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	bg, cancelBG := context.WithCancel(context.Background())
	defer cancelBG()
	keys, st, err := setupKeys(bg, cfg)
	if err != nil {
		return &exitError{2, err}
	}
	if st != nil {
		defer st.Close()
	}
	sen, err := sensor.New(cfg)
	if err != nil {
		return &exitError{2, err}
	}
	srv := server.New(cfg, commands.Default(), keys, commandEnv(cfg, keys, sen))
	srv.SetReloader(reread)
	if st != nil {
		srv.SetAllowStore(st, cfg.StateDir)
		go watchAllowlist(bg, st, srv)
	}
	tw := &tokenWatcher{ctx: bg, st: st, srv: srv}
	tw.apply(cfg)
	srv.OnReload(tw.apply)
	if sen.Active() {
		go func() {
			if err := sen.Run(bg); err != nil {
				slog.Error("capture stopped", "err", err)
			}
		}()
	}
	if err := srv.Start(); err != nil {
		_ = srv.Shutdown(context.Background())
		return &exitError{1, err}
	}
	if st != nil && cfg.IDSensor > 0 {
		go st.Heartbeat(bg, sensorInfo(cfg), 10*time.Second, 30*time.Second)
	}
	slog.Info("tapline serving", "version", version.VerBuild(), "config", cfg.File)
	for {
		select {
		case <-hup:
			reloadOnHUP(srv)
			continue
		case <-ctx.Done():
			slog.Info("shutting down")
			cancelBG()
			if err := srv.Shutdown(context.Background()); err != nil {
				slog.Warn("shutdown", "err", err)
			}
			slog.Info("stopped")
			return nil
		case err := <-srv.Fatal():
			slog.Error("fatal", "err", err)
			_ = srv.Shutdown(context.Background())
			return &exitError{1, err}
		}
	}
}

// setupKeys chooses the key source: the config file's key (static), or Redis
// (watched live; fail closed until the first read, and for good once a key
// was enforced: the state file under statedir remembers that across
// restarts). Redis may be down at start: the server serves anyway.
func setupKeys(ctx context.Context, cfg config.Config) (*keyring.Ring, *redisstore.Store, error) {
	ring := keyring.New(cfg.KeyGrace)
	var st *redisstore.Store
	if cfg.Redis != "" {
		var err error
		if st, err = redisstore.Open(cfg.Redis); err != nil {
			return nil, nil, fmt.Errorf("redis: %w", err)
		}
	}
	k, fromConfig, err := keyring.ConfigKey(cfg)
	switch {
	case fromConfig:
		if err != nil {
			return nil, nil, fmt.Errorf("manager_aes_key: %w", err)
		}
		ring.Static(k)
		slog.Info("manager key", "source", "config", "fingerprint", k.Fingerprint())
	case st != nil:
		ring.Remember(keyring.NewStateFile(cfg.StateDir))
		ring.SetState("loading", "", true)
		go ring.Watch(ctx, st, time.Second)
	}
	return ring, st, nil
}

// sensorInfo is what `send -s ID` finds in Redis.
func sensorInfo(cfg config.Config) func() redisstore.Sensor {
	started := time.Now()
	return func() redisstore.Sensor {
		return redisstore.Sensor{
			IDSensor: cfg.IDSensor, Addr: net.JoinHostPort(cfg.ManagerIP, strconv.Itoa(cfg.ManagerPort)),
			Socket: cfg.ManagerSocket, Version: version.Version, PID: os.Getpid(), Started: started,
		}
	}
}
