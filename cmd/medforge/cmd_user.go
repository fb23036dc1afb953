package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/medforge/medforge/identity"
)

func init() {
	register(command{
		name:  "user",
		usage: "host-side account admin: user create --email E [--admin] [--internal] [--author] | user set --email E [--admin=B] [--internal=B] [--author=B]",
		run:   runUser,
	})
}

const userUsage = `usage:
  medforge user create --email E [--admin] [--internal] [--author] [--display-name N] [--max-sessions N] [--password-stdin]
  medforge user set    --email E [--admin=true|false] [--internal=true|false] [--author=true|false] [--max-sessions N] [--password-stdin]
Without --password-stdin, create prints a generated password once.`

// userFlags are the flags of user create and user set.
type userFlags struct {
	email, display, password string
	admin, internal, author  bool
	maxSessions              int
	// set names the flags given on the command line (set only changes those).
	set map[string]bool
}

func runUser(ctx context.Context, args []string) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "set") {
		fmt.Fprintln(os.Stderr, userUsage)
		return withExit(2, errors.New("want a subcommand: create or set"))
	}
	sub := args[0]
	var f userFlags
	fs := flag.NewFlagSet("user "+sub, flag.ContinueOnError)
	fs.StringVar(&f.email, "email", "", "account email (required)")
	fs.BoolVar(&f.admin, "admin", false, "admin role")
	fs.BoolVar(&f.internal, "internal", false, "entitled to the internal surface (can_use_internal)")
	fs.BoolVar(&f.author, "author", false, "entitled to create and publish EXTERNAL competitions (can_author)")
	fs.StringVar(&f.display, "display-name", "", "display name (create only)")
	fs.IntVar(&f.maxSessions, "max-sessions", 1, "maximum concurrent GPU sessions")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin")
	cfg, rest, err := loadConfig(fs, args[1:])
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return withExit(2, fmt.Errorf("unexpected arguments %q", rest))
	}
	if f.email == "" {
		return withExit(2, errors.New("--email is required"))
	}
	f.set = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	if *pwStdin {
		if f.password, err = readPassword(os.Stdin); err != nil {
			return withExit(2, err)
		}
	}

	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	log := newLogger(cfg)
	st, err := openStore(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer st.DB().Close()
	id, err := newIdentity(cfg, st, log)
	if err != nil {
		return err
	}
	if sub == "create" {
		return createUser(ctx, id, f)
	}
	return setUser(ctx, id, f)
}

// createUser creates the account and prints it, with the generated
// password when none came on stdin.
func createUser(ctx context.Context, id *identity.Service, f userFlags) error {
	password, generated := f.password, f.password == ""
	if generated {
		password = randomPassword()
	}
	role := identity.RoleUser
	if f.admin {
		role = identity.RoleAdmin
	}
	u, err := id.CreateUser(ctx, identity.NewUser{
		Email: f.email, Password: password, DisplayName: f.display, Role: role,
		CanUseInternal: f.internal, CanAuthor: f.author, MaxConcurrentSessions: f.maxSessions,
	})
	if err != nil {
		return userErr(err)
	}
	cliAudit(ctx, id, "cli.user.create", u.ID, "role="+string(u.Role)+" can_use_internal="+strconv.FormatBool(u.CanUseInternal)+" can_author="+strconv.FormatBool(u.CanAuthor))
	fmt.Printf("created user %d %s role=%s can_use_internal=%t can_author=%t max_concurrent_sessions=%d\n",
		u.ID, u.Email, u.Role, u.CanUseInternal, u.CanAuthor, u.MaxConcurrentSessions)
	if generated {
		fmt.Printf("password: %s\n(shown once; change it with: medforge user set --email %s --password-stdin)\n", password, u.Email)
	}
	return nil
}

// setUser changes the entitlements named on the command line (and the
// password, when one came on stdin) and prints the account.
func setUser(ctx context.Context, id *identity.Service, f userFlags) error {
	u, err := id.GetUserByEmail(ctx, f.email)
	if err != nil {
		return userErr(err)
	}
	a := identity.Access{Role: u.Role, CanUseInternal: u.CanUseInternal, CanAuthor: u.CanAuthor, MaxConcurrentSessions: u.MaxConcurrentSessions}
	if f.set["admin"] {
		a.Role = identity.RoleUser
		if f.admin {
			a.Role = identity.RoleAdmin
		}
	}
	if f.set["internal"] {
		a.CanUseInternal = f.internal
	}
	if f.set["author"] {
		a.CanAuthor = f.author
	}
	if f.set["max-sessions"] {
		a.MaxConcurrentSessions = f.maxSessions
	}
	if u, err = id.SetAccess(ctx, u.ID, a); err != nil {
		return userErr(err)
	}
	if f.password != "" {
		if err := id.SetPassword(ctx, u.ID, f.password); err != nil {
			return userErr(err)
		}
	}
	cliAudit(ctx, id, "cli.user.set", u.ID, fmt.Sprintf("role=%s can_use_internal=%t can_author=%t max_concurrent_sessions=%d password_changed=%t",
		u.Role, u.CanUseInternal, u.CanAuthor, u.MaxConcurrentSessions, f.password != ""))
	fmt.Printf("updated user %d %s role=%s can_use_internal=%t can_author=%t max_concurrent_sessions=%d\n",
		u.ID, u.Email, u.Role, u.CanUseInternal, u.CanAuthor, u.MaxConcurrentSessions)
	return nil
}

func userErr(err error) error {
	var ve *identity.ValidationError
	switch {
	case errors.As(err, &ve):
		return withExit(2, err)
	case errors.Is(err, identity.ErrEmailTaken):
		return withExit(3, errors.New("a user with this email exists (use: medforge user set)"))
	case errors.Is(err, identity.ErrNotFound):
		return withExit(3, errors.New("no user with this email"))
	}
	return err
}

func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("--password-stdin: stdin is empty")
	}
	return line, nil
}

// randomPassword is 144 random bits, URL-safe, never starting with '-' or
// '_' (so it is not mistaken for a flag when pasted).
func randomPassword() string {
	for {
		b := make([]byte, 18)
		_, _ = rand.Read(b)
		if s := base64.RawURLEncoding.EncodeToString(b); s[0] != '-' && s[0] != '_' {
			return s
		}
	}
}

// cliAudit records a host-side admin action (no actor user) in identity's
// audit log; a failed write is logged, never fatal.
func cliAudit(ctx context.Context, id *identity.Service, action string, userID int64, detail string) {
	id.Audit(ctx, identity.Event{Action: action, TargetType: "user", TargetID: strconv.FormatInt(userID, 10), Detail: detail})
}
