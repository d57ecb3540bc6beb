package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"tapline/clients"
	"tapline/config"
)

func sendCmd() *cobra.Command {
	var (
		file, host, sock, command string
		port                      int
		timeout                   time.Duration
		jsonMode                  bool
	)
	cmd := &cobra.Command{
		Use:   "send [-h host] [-p port] [-U socket] [-c command | command words...]",
		Short: "send one manager command and print the reply",
		RunE: func(cmd *cobra.Command, args []string) error {
			line := command
			if line == "" {
				line = strings.Join(args, " ")
			}
			if line == "" {
				return &exitError{2, fmt.Errorf("no command given (use -c \"listcalls\" or words after send)")}
			}
			cfg := config.Default()
			if file != "" {
				var err error
				if cfg, _, err = config.Load(file); err != nil {
					return &exitError{2, err}
				}
			}
			network, addr := "unix", sock
			if sock == "" {
				if host == "" {
					host = cfg.ManagerIP
				}
				if !cmd.Flags().Changed("port") {
					port = cfg.ManagerPort
				}
				network, addr = "tcp", net.JoinHostPort(host, strconv.Itoa(port))
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			if jsonMode {
				return sendJSON(ctx, network, addr, line)
			}
			if _, err := clients.DoTo(ctx, network, addr, line, os.Stdout); err != nil {
				return &exitError{1, err}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolP("help", "", false, "help for send") // -h is the host, as in VoIPmonitor's send_manager_cmd
	f.StringVarP(&host, "host", "h", "", "manager host (default: managerip from the config)")
	f.IntVarP(&port, "port", "p", 5029, "manager TCP port (default: managerport from the config)")
	f.StringVarP(&sock, "socket", "U", "", "use this Unix socket instead of TCP")
	f.StringVarP(&command, "command", "c", "", "the command line to send")
	f.StringVar(&file, "config", "", "configuration file (for managerip/managerport)")
	f.DurationVar(&timeout, "timeout", 60*time.Second, "give up after this long")
	f.BoolVar(&jsonMode, "json", false, "use a JSON session and print the JSON reply")
	return cmd
}

func sendJSON(ctx context.Context, network, addr, line string) error {
	s, err := clients.Open(ctx, network, addr)
	if err != nil {
		return &exitError{1, err}
	}
	defer s.Close()
	rep, err := s.Call(ctx, line, nil)
	if err != nil {
		return &exitError{1, err}
	}
	if err := rep.Err(); err != nil {
		return &exitError{1, err}
	}
	if rep.Binary != nil {
		_, err = os.Stdout.Write(rep.Binary)
	} else {
		_, err = fmt.Printf("%s\n", rep.Result)
	}
	return err
}
