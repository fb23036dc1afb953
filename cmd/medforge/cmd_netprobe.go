package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"time"
)

func init() {
	register(command{
		name:  "netprobe",
		usage: "listen ADDR | dial [-timeout 2s] ADDR: the two ends of the session isolation probe (exit 0 reached, 3 unreachable)",
		run:   runNetprobe,
	})
}

// runNetprobe is what the isolation probe's throwaway containers run (see
// sessions/dockerrt.IsolationProbe): `listen` accepts TCP connections and
// closes them at once; `dial` exits 0 when it connects and 3 when it
// cannot (refused or timed out), so the caller can tell "blocked" from a
// broken probe (any other exit).
func runNetprobe(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return withExit(2, errors.New("want listen ADDR or dial ADDR"))
	}
	switch args[0] {
	case "listen":
		if len(args) != 2 {
			return withExit(2, errors.New("want listen ADDR"))
		}
		ln, err := net.Listen("tcp", args[1])
		if err != nil {
			return err
		}
		go func() { <-ctx.Done(); ln.Close() }()
		for {
			c, err := ln.Accept()
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			c.Close()
		}
	case "dial":
		fs := flag.NewFlagSet("netprobe dial", flag.ContinueOnError)
		timeout := fs.Duration("timeout", 2*time.Second, "how long to wait for the connection")
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 1 {
			return withExit(2, errors.New("want dial [-timeout D] ADDR"))
		}
		c, err := (&net.Dialer{Timeout: *timeout}).DialContext(ctx, "tcp", fs.Arg(0))
		if err != nil {
			fmt.Fprintln(os.Stderr, "unreachable:", err)
			return withExit(3, errors.New(""))
		}
		c.Close()
		fmt.Println("reached", fs.Arg(0))
		return nil
	}
	return withExit(2, fmt.Errorf("unknown netprobe mode %q", args[0]))
}
