package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"tapline/clients"
	"tapline/config"
	"tapline/crypto"
	"tapline/keyring"
	"tapline/redisstore"
)

type sendOpts struct {
	file, host, sock, command string
	token                     string // access token: --token, else $TAPLINE_TOKEN
	port, sensor              int
	timeout                   time.Duration
	jsonMode, aes, legacy     bool
}

func sendCmd() *cobra.Command {
	var o sendOpts
	cmd := &cobra.Command{
		Use:   "send [-h host] [-p port] [-U socket] [-a [--legacy]] [-s id_sensor] [-c command | command words...]",
		Short: "send one manager command and print the reply (like run.php send_manager_cmd)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.command == "" {
				o.command = strings.Join(args, " ")
			}
			if o.command == "" {
				return &exitError{2, fmt.Errorf("no command given (use -c \"listcalls\" or words after send)")}
			}
			return runSend(cmd, o)
		},
	}
	f := cmd.Flags()
	f.BoolP("help", "", false, "help for send") // -h is the host, as in VoIPmonitor's send_manager_cmd
	f.StringVarP(&o.host, "host", "h", "", "manager host (default: managerip from the config)")
	f.IntVarP(&o.port, "port", "p", 5029, "manager TCP port (default: managerport from the config)")
	f.StringVarP(&o.sock, "socket", "U", "", "use this Unix socket instead of TCP")
	f.IntVarP(&o.sensor, "sensor", "s", 0, "find the sensor with this id_sensor in Redis")
	f.StringVarP(&o.command, "command", "c", "", "the command line to send")
	f.BoolVarP(&o.aes, "aes", "a", false, "encrypt (tapline's hardened framing unless --legacy)")
	f.BoolVar(&o.legacy, "legacy", false, "with -a: VoIPmonitor's AES-CBC framing")
	f.StringVar(&o.file, "config", "", "configuration file (managerip/port, manager_aes_key/iv, redis)")
	f.DurationVar(&o.timeout, "timeout", 60*time.Second, "give up after this long")
	f.BoolVar(&o.jsonMode, "json", false, "use a JSON session and print the JSON reply")
	f.StringVar(&o.token, "token", "", "authenticate with this access token first (default $"+tokenEnv+"; the variable keeps it out of the process list); in plaintext or hardened mode, not --legacy")
	return cmd
}

// tokenEnv names the environment variable send reads a token from.
const tokenEnv = "TAPLINE_TOKEN"

func runSend(cmd *cobra.Command, o sendOpts) error {
	if o.token == "" {
		o.token = os.Getenv(tokenEnv)
	}
	if o.token != "" && o.aes && o.legacy {
		return &exitError{2, fmt.Errorf("--token works in plaintext or hardened mode, not --legacy (the legacy key is the credential)")}
	}
	if strings.ContainsAny(o.token, " \t\r\n") {
		return &exitError{2, fmt.Errorf("the access token contains blanks or line ends")}
	}
	cfg, _, err := readConfig(o.file)
	if err != nil {
		return &exitError{2, err}
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	var st *redisstore.Store
	if needsRedis(cfg, o) {
		if st, err = redisstore.Open(cfg.Redis); err != nil {
			return &exitError{1, err}
		}
		defer st.Close()
	}
	network, addr, err := sendTarget(ctx, cmd, cfg, st, o)
	if err != nil {
		return &exitError{1, err}
	}
	mode := clients.Plain
	var key crypto.Key
	if o.aes {
		mode = clients.Hardened
		if o.legacy {
			mode = clients.Legacy
		}
		if key, _, err = keyring.LoadFrom(ctx, cfg, st); err != nil {
			return &exitError{1, err}
		}
	}
	if o.jsonMode {
		return sendJSON(ctx, network, addr, mode, key, o.command, o.token)
	}
	line := o.command
	if o.token != "" { // text mode's first line; inside a hardened frame it travels sealed
		line = "auth " + o.token + "\n" + line
	}
	var buf bytes.Buffer
	if _, err := clients.DoSecure(ctx, network, addr, mode, key, line, &buf); err != nil {
		return &exitError{1, err}
	}
	return writeReply(buf.Bytes())
}

// needsRedis says whether send reads Redis: to find the sensor of -s, or
// for the key of -a when the config file has none. It is opened only then,
// and once for both.
func needsRedis(cfg config.Config, o sendOpts) bool {
	return cfg.Redis != "" && (o.sock == "" && o.sensor > 0 || o.aes && cfg.AESKey == "")
}

// sendTarget picks the address: -U, then -s (Redis sensor registry, st),
// then -h/-p.
func sendTarget(ctx context.Context, cmd *cobra.Command, cfg config.Config, st *redisstore.Store, o sendOpts) (string, string, error) {
	if o.sock != "" {
		return "unix", o.sock, nil
	}
	if o.sensor > 0 {
		if st == nil {
			return "", "", fmt.Errorf("-s needs redis in the config (--config FILE)")
		}
		sen, ok, err := st.LookupSensor(ctx, o.sensor)
		if err != nil {
			return "", "", fmt.Errorf("look up sensor %d: %w", o.sensor, err)
		}
		if !ok {
			return "", "", fmt.Errorf("sensor %d is not registered in redis (not running, or no heartbeat)", o.sensor)
		}
		return "tcp", sen.Addr, nil
	}
	host, port := o.host, o.port
	if host == "" {
		host = cfg.ManagerIP
	}
	if !cmd.Flags().Changed("port") {
		port = cfg.ManagerPort
	}
	return "tcp", net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// writeReply prints the reply, gunzipped when it is gzip (zip replies).
func writeReply(b []byte) error {
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return &exitError{1, fmt.Errorf("gunzip reply: %w", err)}
		}
		if _, err := io.Copy(os.Stdout, zr); err != nil {
			return &exitError{1, fmt.Errorf("gunzip reply: %w", err)}
		}
		return nil
	}
	_, err := os.Stdout.Write(b)
	return err
}

func sendJSON(ctx context.Context, network, addr string, mode clients.Crypto, key crypto.Key, line, token string) error {
	var s *clients.Session
	var err error
	switch mode {
	case clients.Hardened:
		s, err = clients.OpenHardened(ctx, network, addr, key)
	case clients.Legacy:
		return &exitError{2, fmt.Errorf("--json works in plaintext or hardened mode, not --legacy")}
	default:
		s, err = clients.Open(ctx, network, addr)
	}
	if err != nil {
		return &exitError{1, err}
	}
	defer s.Close()
	if token != "" {
		rep, err := s.Call(ctx, "auth", map[string]any{"token": token})
		if err == nil {
			err = rep.Err()
		}
		if err != nil {
			return &exitError{1, fmt.Errorf("auth: %w", err)}
		}
	}
	rep, err := s.Call(ctx, line, nil)
	if err != nil {
		return &exitError{1, err}
	}
	if err := rep.Err(); err != nil {
		return &exitError{1, err}
	}
	if rep.Binary != nil {
		return writeReply(rep.Binary)
	}
	_, err = fmt.Printf("%s\n", rep.Result)
	return err
}
