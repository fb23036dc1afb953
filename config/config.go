package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is the validated configuration of one MedForge process. A Config
// returned by Load has passed Validate.
type Config struct {
	// Domain is the base domain; MedForge's hosts are medforge.<Domain>,
	// api.medforge.<Domain> and s-<slug>.{external,internal}.medforge.<Domain>.
	Domain string
	// Listen is the host:port the HTTP server binds.
	Listen string
	// DSN is the go-sql-driver/mysql DSN of the MariaDB database.
	DSN string
	// RunDir holds local state of a development run (private MariaDB, the
	// local admin's password file).
	RunDir string
	// CookieSecure says whether the identity cookie carries Secure (and
	// the __Host- name). It is false only for plain-HTTP local runs.
	CookieSecure bool
	// OpenSignup allows POST /api/v2/auth/signup; when false admins create users.
	OpenSignup bool
	// PasswordMinLength is the minimum password length in characters.
	PasswordMinLength int
	// SessionTTL is how long a login cookie stays valid.
	SessionTTL time.Duration
	// LoginMaxAttempts is how many login attempts one account, and
	// LoginMaxAttemptsPerIP how many one client IP, may make per LoginWindow
	// before further attempts get 429.
	LoginMaxAttempts      int
	LoginMaxAttemptsPerIP int
	LoginWindow           time.Duration
	// AuthCacheTTL bounds how long a cookie or token -> user lookup is served
	// from memory before the database is asked again.
	AuthCacheTTL time.Duration
	// BodyLimit is the largest uploaded submission file, in bytes: the HTTP
	// server admits it plus httpapi.BodySlack of framing, and the upload
	// handler, the competitions service and validation all refuse more.
	BodyLimit int
	// HeaderTimeout bounds the time from a request's first byte (a new
	// connection: from accept) to the end of its headers; ReadTimeout the
	// time to read its body once the headers are in; WriteTimeout the
	// answer; IdleTimeout a keep-alive connection waiting for its next
	// request. RequestTimeout is the deadline of a handler's context.
	HeaderTimeout  time.Duration
	ReadTimeout    time.Duration
	WriteTimeout   time.Duration
	IdleTimeout    time.Duration
	RequestTimeout time.Duration
	// UploadsPerUser and UploadsPerIP are how many upload requests
	// (submissions and scorer modules, valid or not) one user and one
	// client IP (IPv6 by /64) may make per UploadWindow before further
	// ones get 429 with Retry-After; 0 turns that limit off.
	UploadsPerUser int
	UploadsPerIP   int
	UploadWindow   time.Duration
	// ShutdownTimeout bounds graceful shutdown after SIGINT/SIGTERM.
	ShutdownTimeout time.Duration
	// TrustedProxies are the IPs/CIDRs whose X-Forwarded-For is believed
	// (Caddy). Empty means the TCP peer is the client.
	TrustedProxies []string
	// ExtraOrigins are origins (scheme://host[:port]) allowed to make
	// cookie-authenticated state-changing requests besides MedForge's own hosts.
	ExtraOrigins []string
	// LogLevel is debug, info, warn or error.
	LogLevel string

	// TrainingDataRoot, PublicEvalDataRoot and TestHoldoutsDir are the three
	// data roots of the competitions (training files, public eval files,
	// hidden holdouts); SubmissionsDir and ScorerStoreDir are the
	// content-addressed stores of submitted files and scorer modules. All
	// are absolute, and none is inside (or equal to) another.
	TrainingDataRoot   string
	PublicEvalDataRoot string
	TestHoldoutsDir    string
	SubmissionsDir     string
	ScorerStoreDir     string
	// DataOwner is uid:gid owning the roots and stored files, or "".
	DataOwner string
	// ScorersDir holds the built-in scorer modules (<metric>.wasm) used by
	// seeding and bundle imports; empty means scorers/ next to the medforge
	// executable (bin/scorers beside bin/medforge).
	ScorersDir string
	// ScoringWorkers is the number of sandbox processes, hence of
	// concurrent scorings per process; ScoringTimeout bounds one scoring and
	// ScoringMemory (bytes) a scorer module's linear memory.
	ScoringWorkers int
	// AuthorMaxDailyCap bounds the daily cap authors set on their competitions.
	AuthorMaxDailyCap int
	ScoringTimeout    time.Duration
	ScoringMemory     uint64
	// WorkerPoll is how often an idle worker looks for work submitted
	// through other processes; WorkerLease is a claim's lease, renewed
	// every third of it. WorkerPoll is shorter than WorkerLease.
	WorkerPoll  time.Duration
	WorkerLease time.Duration
	// EmbeddedWorker says whether `medforge serve` runs a scoring worker.
	EmbeddedWorker bool
	// SandboxJobWait is how long an API request waits for its sandbox job
	// (scorer validation, certification) before answering 202.
	SandboxJobWait time.Duration
	// CompetitionsPprofAddr, when not empty, is where serve exposes
	// net/http/pprof for benchmarks; never set in production.
	CompetitionsPprofAddr string

	// Sessions are the session runtime's settings (docs/sessions.md).
	Sessions Sessions
	// RoutingResync is how often the session route table is rebuilt from
	// the database; RoutingActivityFlush how often routed sessions' last
	// activity is written (docs/routing.md).
	RoutingResync        time.Duration
	RoutingActivityFlush time.Duration
}

// APIHost is api.medforge.<domain>.
func (c Config) APIHost() string { return "api.medforge." + c.Domain }

// Local reports whether this is a plain-HTTP local run (DOMAIN=localhost).
func (c Config) Local() bool {
	return c.Domain == "localhost" || strings.HasSuffix(c.Domain, ".localhost")
}

// Lookup reads one environment variable; os.LookupEnv fits.
type Lookup func(key string) (string, bool)

// Load builds a Config from the environment (through lookup), then from the
// flags in args when fs is not nil, and validates it. Flags win over the
// environment. The returned error names every bad setting by its variable.
// Arguments left after the flags are returned.
func Load(lookup Lookup, fs *flag.FlagSet, args []string) (Config, []string, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	raw := map[string]string{}
	for _, s := range Settings {
		raw[s.Env] = s.Default
		if v, ok := lookup(s.Alias); ok && s.Alias != "" {
			raw[s.Env] = v
		}
		if v, ok := lookup(s.Env); ok {
			raw[s.Env] = v
		}
	}
	rest := args
	if fs != nil {
		for _, s := range Settings {
			if s.Flag == "" {
				continue
			}
			env := s.Env
			usage := strings.ReplaceAll(s.Doc, "`", "'") + " (env " + env + ", default " + strconv.Quote(s.Default) + ")"
			fs.Func(s.Flag, usage, func(v string) error { raw[env] = v; return nil })
		}
		if err := fs.Parse(args); err != nil {
			return Config{}, nil, err
		}
		rest = fs.Args()
	}
	var c Config
	var errs []error
	bad := map[string]bool{}
	for _, s := range Settings {
		if err := s.apply(&c, strings.TrimSpace(raw[s.Env])); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", s.Env, raw[s.Env], err))
			bad[s.Env] = true
		}
	}
	// Cross-setting rules, except about settings that did not even parse.
	for _, p := range c.problems() {
		if !bad[p.env] {
			errs = append(errs, p)
		}
	}
	if len(errs) > 0 {
		return Config{}, rest, fmt.Errorf("invalid configuration: %w", errors.Join(errs...))
	}
	return c, rest, nil
}

// Validate checks cross-setting rules; each error names the variable.
func (c Config) Validate() error {
	var errs []error
	for _, p := range c.problems() {
		errs = append(errs, p)
	}
	return errors.Join(errs...)
}

// problem is one invalid setting.
type problem struct {
	env string
	msg string
}

func (p problem) Error() string { return p.env + ": " + p.msg }

func (c Config) problems() []problem {
	var errs []problem
	bad := func(env, format string, a ...any) { errs = append(errs, problem{env, fmt.Sprintf(format, a...)}) }
	if c.Domain == "" || strings.ContainsAny(c.Domain, "/:@ ") || strings.HasPrefix(c.Domain, ".") || strings.HasSuffix(c.Domain, ".") {
		bad("MEDFORGE_DOMAIN", "must be a bare domain like example.org, got %q", c.Domain)
	}
	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		bad("MEDFORGE_LISTEN", "must be host:port, got %q", c.Listen)
	}
	if c.DSN == "" {
		bad("MEDFORGE_DSN", "must be set (a go-sql-driver/mysql DSN such as user:pass@tcp(127.0.0.1:3306)/medforge)")
	}
	if c.PasswordMinLength < 8 {
		bad("MEDFORGE_PASSWORD_MIN_LENGTH", "must be at least 8, got %d", c.PasswordMinLength)
	}
	if c.LoginMaxAttempts < 1 {
		bad("MEDFORGE_LOGIN_MAX_ATTEMPTS", "must be at least 1, got %d", c.LoginMaxAttempts)
	}
	if c.LoginMaxAttemptsPerIP < c.LoginMaxAttempts {
		bad("MEDFORGE_LOGIN_MAX_ATTEMPTS_PER_IP", "must be at least MEDFORGE_LOGIN_MAX_ATTEMPTS (%d), got %d", c.LoginMaxAttempts, c.LoginMaxAttemptsPerIP)
	}
	if c.UploadsPerUser < 0 {
		bad("MEDFORGE_UPLOADS_PER_USER", "must be 0 (no limit) or more, got %d", c.UploadsPerUser)
	}
	if c.UploadsPerIP < 0 {
		bad("MEDFORGE_UPLOADS_PER_IP", "must be 0 (no limit) or more, got %d", c.UploadsPerIP)
	}
	if c.UploadWindow <= 0 {
		bad("MEDFORGE_UPLOAD_WINDOW", "must be a positive duration, got %s", c.UploadWindow)
	}
	if c.HeaderTimeout <= 0 {
		bad("MEDFORGE_HEADER_TIMEOUT", "must be a positive duration, got %s", c.HeaderTimeout)
	}
	if c.BodyLimit < 1024 {
		bad("MEDFORGE_BODY_LIMIT", "must be at least 1024 bytes, got %d", c.BodyLimit)
	}
	if !c.Local() && !c.CookieSecure {
		bad("MEDFORGE_COOKIE_SECURE", "may be false only when MEDFORGE_DOMAIN is localhost (plain-HTTP local runs)")
	}
	for _, o := range c.ExtraOrigins {
		if !strings.HasPrefix(o, "https://") && !strings.HasPrefix(o, "http://") || strings.Count(o, "/") != 2 {
			bad("MEDFORGE_EXTRA_ORIGINS", "each origin must be scheme://host[:port], got %q", o)
		}
	}
	for _, p := range c.TrustedProxies {
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				bad("MEDFORGE_TRUSTED_PROXIES", "each entry must be an IP or CIDR, got %q", p)
			}
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("MEDFORGE_LOG_LEVEL", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	if c.WorkerPoll >= c.WorkerLease && c.WorkerLease > 0 {
		bad("MEDFORGE_WORKER_POLL", "must be shorter than MEDFORGE_WORKER_LEASE (%s), got %s", c.WorkerLease, c.WorkerPoll)
	}
	// The data roots and stores are disjoint: no public root can reach the
	// holdouts, and no store is served as a public root.
	roots := c.dataRoots()
	for i, in := range roots {
		for j, out := range roots {
			if i == j || in.path == "" || out.path == "" {
				continue
			}
			switch {
			case filepath.Clean(in.path) == filepath.Clean(out.path):
				if i > j { // report an equal pair once, by the later setting
					bad(in.env, "must not be the same folder as %s (%s): the data roots and stores must be disjoint", out.env, out.path)
				}
			case within(out.path, in.path):
				bad(in.env, "must not be inside %s (%s): the data roots and stores must be disjoint", out.env, out.path)
			}
		}
	}
	return errs
}

type namedRoot struct{ env, path string }

// dataRoots lists the competitions' data roots and stores by setting.
func (c Config) dataRoots() []namedRoot {
	return []namedRoot{
		{"MEDFORGE_TRAINING_DATA_ROOT", c.TrainingDataRoot},
		{"MEDFORGE_PUBLIC_EVAL_DATA_ROOT", c.PublicEvalDataRoot},
		{"MEDFORGE_TEST_HOLDOUTS_DIR", c.TestHoldoutsDir},
		{"MEDFORGE_SUBMISSIONS_DIR", c.SubmissionsDir},
		{"MEDFORGE_SCORER_STORE_DIR", c.ScorerStoreDir},
	}
}

// within reports whether p is inside parent (lexically; equal is not inside).
func within(parent, p string) bool {
	parent, p = filepath.Clean(parent), filepath.Clean(p)
	return p != parent && strings.HasPrefix(p, strings.TrimSuffix(parent, string(filepath.Separator))+string(filepath.Separator))
}

func parseBool(v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errors.New("must be true or false")
	}
	return b, nil
}

func parseInt(v string, min int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, errors.New("must be a whole number")
	}
	if n < min {
		return 0, fmt.Errorf("must be at least %d", min)
	}
	return n, nil
}

func parseDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, errors.New("must be a duration such as 30s, 5m or 168h")
	}
	if d <= 0 {
		return 0, errors.New("must be positive")
	}
	return d, nil
}

// parseDurationOrZero is parseDuration that also takes 0 (disabled).
func parseDurationOrZero(v string) (time.Duration, error) {
	if v == "0" {
		return 0, nil
	}
	return parseDuration(v)
}

// parseDurationAtLeast is parseDuration with a floor.
func parseDurationAtLeast(v string, floor time.Duration) (time.Duration, error) {
	d, err := parseDuration(v)
	if err == nil && d < floor {
		return 0, fmt.Errorf("must be at least %s", floor)
	}
	return d, err
}

// dataRoot parses a data root or store into the field of c that field
// picks: empty means <run dir>/data/<def> (MEDFORGE_RUN_DIR comes earlier in
// Settings), otherwise an absolute path, since the same path is mounted
// into containers.
func dataRoot(field func(c *Config) *string, def string) func(c *Config, v string) error {
	return func(c *Config, v string) error {
		dst := field(c)
		switch {
		case v == "":
			*dst = filepath.Join(c.RunDir, "data", def)
		case !filepath.IsAbs(v):
			return errors.New("must be an absolute path")
		default:
			*dst = filepath.Clean(v)
		}
		return nil
	}
}

// parseBytes reads a size in bytes, with an optional k, m or g suffix
// (powers of 1024).
func parseBytes(v string) (uint64, error) {
	mult := uint64(1)
	switch strings.ToLower(v[len(v)-min(1, len(v)):]) {
	case "k":
		mult = 1 << 10
	case "m":
		mult = 1 << 20
	case "g":
		mult = 1 << 30
	}
	if mult > 1 {
		v = v[:len(v)-1]
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > (1<<62)/mult {
		return 0, errors.New("must be a size in bytes, optionally with a k, m or g suffix, such as 1g")
	}
	return n * mult, nil
}

func parseList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
