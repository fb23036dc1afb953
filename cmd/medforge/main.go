// Command medforge is the one MedForge binary: the API server, the scoring
// worker, the scoring CLI and the host-side admin commands.
//
// Each subcommand lives in its own cmd_<name>.go file and registers itself in
// init with register, so adding a capability never edits this file.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/medforge/medforge/engine/sandbox"
)

// command is one subcommand of the binary.
type command struct {
	name  string
	usage string // one line shown by `medforge help`
	// run executes the subcommand with the arguments after its name. It
	// returns an error wrapped with exitError to choose a specific exit code;
	// any other error exits 1.
	run func(ctx context.Context, args []string) error
}

var commands = map[string]command{}

// register adds a subcommand; it panics on a duplicate name so a mistake
// shows up on the first run of any test.
func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("medforge: duplicate command " + c.name)
	}
	commands[c.name] = c
}

// exitError carries a process exit code through the error chain.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withExit wraps err so that main exits with code.
func withExit(code int, err error) error { return &exitError{code: code, err: err} }

func usage() {
	fmt.Fprintln(os.Stderr, "usage: medforge <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-12s %s\n", n, commands[n].usage)
	}
}

func main() {
	// A re-execution of this binary as a scorer sandbox worker never
	// returns from here; see engine/sandbox.
	sandbox.MaybeRunWorker()
	if len(os.Args) < 2 || os.Args[1] == "help" || os.Args[1] == "-h" || os.Args[1] == "--help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	c, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "medforge: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := c.run(ctx, os.Args[2:])
	stop()
	if err == nil {
		return
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintf(os.Stderr, "medforge %s: %s\n", c.name, msg)
	}
	os.Exit(code)
}
