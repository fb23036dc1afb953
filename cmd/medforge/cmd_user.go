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
	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/db"
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

func runUser(ctx context.Context, args []string) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "set") {
		fmt.Fprintln(os.Stderr, userUsage)
		return withExit(2, errors.New("want a subcommand: create or set"))
	}
	sub := args[0]
	fs := flag.NewFlagSet("user "+sub, flag.ContinueOnError)
	email := fs.String("email", "", "account email (required)")
	admin := fs.Bool("admin", false, "admin role")
	internal := fs.Bool("internal", false, "entitled to the internal surface (can_use_internal)")
	author := fs.Bool("author", false, "entitled to create and publish EXTERNAL competitions (can_author)")
	display := fs.String("display-name", "", "display name (create only)")
	maxSessions := fs.Int("max-sessions", 1, "maximum concurrent GPU sessions")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin")
	cfg, rest, err := loadConfig(fs, args[1:])
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return withExit(2, fmt.Errorf("unexpected arguments %q", rest))
	}
	if *email == "" {
		return withExit(2, errors.New("--email is required"))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var password string
	if *pwStdin {
		if password, err = readPassword(os.Stdin); err != nil {
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

	switch sub {
	case "create":
		generated := password == ""
		if generated {
			password = randomPassword()
		}
		role := identity.RoleUser
		if *admin {
			role = identity.RoleAdmin
		}
		u, err := id.CreateUser(ctx, identity.NewUser{
			Email: *email, Password: password, DisplayName: *display, Role: role,
			CanUseInternal: *internal, CanAuthor: *author, MaxConcurrentSessions: *maxSessions,
		})
		if err != nil {
			return userErr(err)
		}
		cliAudit(ctx, st, "cli.user.create", u.ID, "role="+string(u.Role)+" can_use_internal="+strconv.FormatBool(u.CanUseInternal)+" can_author="+strconv.FormatBool(u.CanAuthor))
		fmt.Printf("created user %d %s role=%s can_use_internal=%t can_author=%t max_concurrent_sessions=%d\n",
			u.ID, u.Email, u.Role, u.CanUseInternal, u.CanAuthor, u.MaxConcurrentSessions)
		if generated {
			fmt.Printf("password: %s\n(shown once; change it with: medforge user set --email %s --password-stdin)\n", password, u.Email)
		}
		return nil
	default:
		u, err := id.GetUserByEmail(ctx, *email)
		if err != nil {
			return userErr(err)
		}
		a := identity.Access{Role: u.Role, CanUseInternal: u.CanUseInternal, CanAuthor: u.CanAuthor, MaxConcurrentSessions: u.MaxConcurrentSessions}
		if set["admin"] {
			a.Role = identity.RoleUser
			if *admin {
				a.Role = identity.RoleAdmin
			}
		}
		if set["internal"] {
			a.CanUseInternal = *internal
		}
		if set["author"] {
			a.CanAuthor = *author
		}
		if set["max-sessions"] {
			a.MaxConcurrentSessions = *maxSessions
		}
		if u, err = id.SetAccess(ctx, u.ID, a); err != nil {
			return userErr(err)
		}
		if password != "" {
			if err := id.SetPassword(ctx, u.ID, password); err != nil {
				return userErr(err)
			}
		}
		cliAudit(ctx, st, "cli.user.set", u.ID, fmt.Sprintf("role=%s can_use_internal=%t can_author=%t max_concurrent_sessions=%d password_changed=%t",
			u.Role, u.CanUseInternal, u.CanAuthor, u.MaxConcurrentSessions, password != ""))
		fmt.Printf("updated user %d %s role=%s can_use_internal=%t can_author=%t max_concurrent_sessions=%d\n",
			u.ID, u.Email, u.Role, u.CanUseInternal, u.CanAuthor, u.MaxConcurrentSessions)
		return nil
	}
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

// cliAudit records a host-side admin action (no actor user).
func cliAudit(ctx context.Context, st store.Store, action string, userID int64, detail string) {
	err := st.InsertAuditEvent(ctx, db.InsertAuditEventParams{
		Action: action, TargetType: "user", TargetID: strconv.FormatInt(userID, 10), Detail: detail,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "warning: audit event not recorded: %v\n", err)
	}
}
