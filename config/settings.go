package config

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Setting is one configuration knob: its environment variable, optional flag,
// default and documentation. docs/configuration.md lists every Setting; a
// test fails when they disagree.
type Setting struct {
	Env     string // MEDFORGE_*
	Alias   string // an older name also read; Env wins when both are set
	Flag    string // command-line flag name, "" for none
	Default string // as it would be written in the environment
	Doc     string // one sentence for docs/configuration.md
	apply   func(c *Config, v string) error
}

// Settings is the table of every MedForge setting, applied in order (later
// entries may read earlier ones). To add one: append it here (or to the
// table of its subsystem, such as sessionSettings), add the field to Config,
// and regenerate docs/configuration.md (go test ./config -update).
var Settings = slices.Concat(coreSettings, sessionSettings, routingSettings)

// coreSettings are the server's, identity's and competitions' settings.
var coreSettings = []Setting{
	{Env: "MEDFORGE_DOMAIN", Flag: "domain", Default: "localhost",
		Doc:   "Base domain; hosts are medforge.<domain>, api.medforge.<domain>, s-<slug>.external.medforge.<domain>.",
		apply: func(c *Config, v string) error { c.Domain = strings.ToLower(v); return nil }},
	{Env: "MEDFORGE_LISTEN", Flag: "listen", Default: "127.0.0.1:8000",
		Doc:   "Address the HTTP server binds.",
		apply: func(c *Config, v string) error { c.Listen = v; return nil }},
	{Env: "MEDFORGE_RUN_DIR", Flag: "", Default: "./.run",
		Doc: "Run folder of a development checkout (private MariaDB, local admin password).",
		apply: func(c *Config, v string) error {
			if v == "" {
				return errors.New("must not be empty")
			}
			abs, err := filepath.Abs(v)
			if err != nil {
				return err
			}
			c.RunDir = abs
			return nil
		}},
	{Env: "MEDFORGE_DSN", Flag: "dsn", Default: "",
		Doc: "MariaDB DSN (go-sql-driver/mysql). Empty means the private MariaDB of `make run`: root@unix(<run dir>/mariadb/mysqld.sock)/medforge.",
		apply: func(c *Config, v string) error {
			if v == "" {
				v = "root@unix(" + filepath.Join(c.RunDir, "mariadb", "mysqld.sock") + ")/medforge"
			}
			c.DSN = v
			return nil
		}},
	{Env: "MEDFORGE_COOKIE_SECURE", Flag: "cookie-secure", Default: "auto",
		Doc: "Secure attribute of the session cookie: true, false, or auto (false only when the domain is localhost, i.e. plain-HTTP local runs).",
		apply: func(c *Config, v string) error {
			if v == "auto" {
				c.CookieSecure = !c.Local()
				return nil
			}
			b, err := parseBool(v)
			c.CookieSecure = b
			return err
		}},
	{Env: "MEDFORGE_OPEN_SIGNUP", Flag: "open-signup", Default: "true",
		Doc:   "Whether anyone may sign up; when false only admins create users.",
		apply: func(c *Config, v string) (err error) { c.OpenSignup, err = parseBool(v); return }},
	{Env: "MEDFORGE_PASSWORD_MIN_LENGTH", Default: "12",
		Doc:   "Minimum password length in characters (at least 8).",
		apply: func(c *Config, v string) (err error) { c.PasswordMinLength, err = parseInt(v, 1); return }},
	{Env: "MEDFORGE_SESSION_TTL", Default: "168h",
		Doc:   "Lifetime of a login cookie.",
		apply: func(c *Config, v string) (err error) { c.SessionTTL, err = parseDuration(v); return }},
	{Env: "MEDFORGE_LOGIN_MAX_ATTEMPTS", Default: "5",
		Doc:   "Login attempts allowed per account per window; more get 429 with Retry-After.",
		apply: func(c *Config, v string) (err error) { c.LoginMaxAttempts, err = parseInt(v, 1); return }},
	{Env: "MEDFORGE_LOGIN_MAX_ATTEMPTS_PER_IP", Default: "20",
		Doc:   "Login attempts allowed per client IP per window; more get 429 with Retry-After.",
		apply: func(c *Config, v string) (err error) { c.LoginMaxAttemptsPerIP, err = parseInt(v, 1); return }},
	{Env: "MEDFORGE_LOGIN_WINDOW", Default: "15m",
		Doc:   "Window of the login throttles.",
		apply: func(c *Config, v string) (err error) { c.LoginWindow, err = parseDuration(v); return }},
	{Env: "MEDFORGE_AUTH_CACHE_TTL", Default: "30s",
		Doc:   "Longest time a cookie/token -> user lookup is served from memory; role and entitlement changes invalidate it sooner.",
		apply: func(c *Config, v string) (err error) { c.AuthCacheTTL, err = parseDuration(v); return }},
	{Env: "MEDFORGE_BODY_LIMIT", Default: "67108864",
		Doc:   "Largest uploaded submission file in bytes (default 64 MiB); the one upload limit of every layer: the HTTP server admits a body of this plus 1 MiB of multipart framing, and the upload handler, the competitions service and CSV validation refuse a larger file, naming the limit.",
		apply: func(c *Config, v string) (err error) { c.BodyLimit, err = parseInt(v, 1); return }},
	{Env: "MEDFORGE_UPLOADS_PER_USER", Default: "30",
		Doc:   "Upload requests (submissions and scorer modules, valid or not) one user may make per MEDFORGE_UPLOAD_WINDOW; more get 429 rate_limited with Retry-After. 0: no limit. Invalid files never use the daily cap, this limit bounds them.",
		apply: func(c *Config, v string) (err error) { c.UploadsPerUser, err = parseInt(v, 0); return }},
	{Env: "MEDFORGE_UPLOADS_PER_IP", Default: "120",
		Doc:   "Upload requests one client IP (IPv6 by /64, behind MEDFORGE_TRUSTED_PROXIES the forwarded client) may make per MEDFORGE_UPLOAD_WINDOW, whoever signs them; more get 429 rate_limited. 0: no limit.",
		apply: func(c *Config, v string) (err error) { c.UploadsPerIP, err = parseInt(v, 0); return }},
	{Env: "MEDFORGE_UPLOAD_WINDOW", Default: "1m",
		Doc:   "Sliding window of the upload rate limits.",
		apply: func(c *Config, v string) (err error) { c.UploadWindow, err = parseDuration(v); return }},
	{Env: "MEDFORGE_HEADER_TIMEOUT", Default: "10s",
		Doc:   "Time a client has to send a request's headers, from its first byte (on a new connection, from accept); a slower client (slowloris) is disconnected.",
		apply: func(c *Config, v string) (err error) { c.HeaderTimeout, err = parseDuration(v); return }},
	{Env: "MEDFORGE_READ_TIMEOUT", Default: "60s",
		Doc:   "Time to read a request's body once its headers arrived (an upload of MEDFORGE_BODY_LIMIT must arrive within it).",
		apply: func(c *Config, v string) (err error) { c.ReadTimeout, err = parseDuration(v); return }},
	{Env: "MEDFORGE_WRITE_TIMEOUT", Default: "60s",
		Doc:   "HTTP write timeout.",
		apply: func(c *Config, v string) (err error) { c.WriteTimeout, err = parseDuration(v); return }},
	{Env: "MEDFORGE_IDLE_TIMEOUT", Default: "120s",
		Doc:   "Keep-alive idle timeout.",
		apply: func(c *Config, v string) (err error) { c.IdleTimeout, err = parseDuration(v); return }},
	{Env: "MEDFORGE_REQUEST_TIMEOUT", Default: "30s",
		Doc:   "Deadline of each handler's context (database calls made with it are cancelled after it).",
		apply: func(c *Config, v string) (err error) { c.RequestTimeout, err = parseDuration(v); return }},
	{Env: "MEDFORGE_SHUTDOWN_TIMEOUT", Default: "15s",
		Doc:   "How long graceful shutdown waits for in-flight requests after SIGINT/SIGTERM.",
		apply: func(c *Config, v string) (err error) { c.ShutdownTimeout, err = parseDuration(v); return }},
	{Env: "MEDFORGE_TRUSTED_PROXIES", Default: "",
		Doc:   "Comma-separated IPs/CIDRs whose X-Forwarded-For names the client (Caddy); empty trusts none.",
		apply: func(c *Config, v string) error { c.TrustedProxies = parseList(v); return nil }},
	{Env: "MEDFORGE_EXTRA_ORIGINS", Default: "",
		Doc:   "Comma-separated extra origins (scheme://host[:port]) allowed to make cookie-authenticated state-changing requests.",
		apply: func(c *Config, v string) error { c.ExtraOrigins = parseList(v); return nil }},
	{Env: "MEDFORGE_LOG_LEVEL", Flag: "log-level", Default: "info",
		Doc:   "Log level: debug, info, warn or error.",
		apply: func(c *Config, v string) error { c.LogLevel = strings.ToLower(v); return nil }},
	// Competitions (docs/competitions.md). The data root defaults use
	// MEDFORGE_RUN_DIR, set above.
	{Env: "MEDFORGE_TRAINING_DATA_ROOT", Default: "",
		Doc:   "Training files, served publicly and mounted read-only into sessions (absolute path). Empty means <run dir>/data/training.",
		apply: dataRoot(func(c *Config) *string { return &c.TrainingDataRoot }, "training")},
	{Env: "MEDFORGE_PUBLIC_EVAL_DATA_ROOT", Default: "",
		Doc:   "Public eval files and sample submissions, served publicly and mounted read-only into sessions (absolute path). Empty means <run dir>/data/public-eval.",
		apply: dataRoot(func(c *Config) *string { return &c.PublicEvalDataRoot }, "public-eval")},
	{Env: "MEDFORGE_TEST_HOLDOUTS_DIR", Default: "",
		Doc:   "Hidden holdouts, read only by the scoring engine, never served or mounted (absolute path). Empty means <run dir>/data/test-holdouts. The data roots and stores must be disjoint.",
		apply: dataRoot(func(c *Config) *string { return &c.TestHoldoutsDir }, "test-holdouts")},
	{Env: "MEDFORGE_SUBMISSIONS_DIR", Default: "",
		Doc:   "Content-addressed store of submitted files, private (absolute path). Empty means <run dir>/data/submissions.",
		apply: dataRoot(func(c *Config) *string { return &c.SubmissionsDir }, "submissions")},
	{Env: "MEDFORGE_SCORER_STORE_DIR", Default: "",
		Doc:   "Content-addressed store of scorer modules, private (absolute path). Empty means <run dir>/data/scorers.",
		apply: dataRoot(func(c *Config) *string { return &c.ScorerStoreDir }, "scorers")},
	{Env: "MEDFORGE_DATA_OWNER", Default: "",
		Doc:   "uid:gid that owns every data root and stored file this process writes (the Compose stack's root API gives them to the worker's user, 65532:65532); empty leaves them to the writing process.",
		apply: func(c *Config, v string) error { c.DataOwner = v; return validOwner(v) }},
	{Env: "MEDFORGE_SCORERS_DIR", Default: "",
		Doc: "Built-in scorer modules (<metric>.wasm, built by `make scorers`) for seeding and bundle imports. Empty means scorers/ next to the medforge binary (bin/scorers).",
		apply: func(c *Config, v string) error {
			if v == "" {
				c.ScorersDir = ""
				return nil
			}
			abs, err := filepath.Abs(v)
			c.ScorersDir = abs
			return err
		}},
	{Env: "MEDFORGE_SCORING_WORKERS", Default: "2",
		Doc:   "Sandbox worker processes of each medforge process, hence its concurrent scorings; its scoring worker runs twice as many loops.",
		apply: func(c *Config, v string) (err error) { c.ScoringWorkers, err = parseInt(v, 1); return }},
	{Env: "MEDFORGE_AUTHOR_MAX_DAILY_CAP", Default: "100",
		Doc:   "Largest daily submission cap a competition author (can_author) may set; admins may set more with medforge competition import.",
		apply: func(c *Config, v string) (err error) { c.AuthorMaxDailyCap, err = parseInt(v, 1); return }},
	{Env: "MEDFORGE_SCORING_TIMEOUT", Default: "60s",
		Doc:   "Time limit of one scoring (the scorer module's run).",
		apply: func(c *Config, v string) (err error) { c.ScoringTimeout, err = parseDuration(v); return }},
	{Env: "MEDFORGE_SCORING_MEMORY", Default: "1g",
		Doc: "Linear memory limit of a scorer module (bytes, or with a k/m/g suffix; 64k to 4g).",
		apply: func(c *Config, v string) error {
			n, err := parseBytes(v)
			if err != nil {
				return err
			}
			if n < 64<<10 || n > 4<<30 {
				return errors.New("must be between 64k and 4g")
			}
			c.ScoringMemory = n
			return nil
		}},
	{Env: "MEDFORGE_WORKER_POLL", Default: "250ms",
		Doc:   "How often an idle scoring worker looks for work queued by other processes (its own process wakes it at once); shorter than the lease.",
		apply: func(c *Config, v string) (err error) { c.WorkerPoll, err = parseDuration(v); return }},
	{Env: "MEDFORGE_WORKER_LEASE", Default: "30s",
		Doc:   "A scoring worker's lease on a claimed submission, renewed every third of it; another worker takes over once it lapses.",
		apply: func(c *Config, v string) (err error) { c.WorkerLease, err = parseDuration(v); return }},
	{Env: "MEDFORGE_EMBEDDED_WORKER", Default: "true",
		Doc:   "Whether `medforge serve` also runs a scoring worker (false when separate `medforge worker` processes score).",
		apply: func(c *Config, v string) (err error) { c.EmbeddedWorker, err = parseBool(v); return }},
	{Env: "MEDFORGE_SANDBOX_JOB_WAIT", Default: "20s",
		Doc: "How long an API request that needs an uploaded scorer module run (scorer upload validation, a certification report, publish) waits for the scoring worker's sandbox job before answering 202 with the job to poll; 0 answers 202 at once. Requests may ask for 0-60 s with ?wait=.",
		apply: func(c *Config, v string) (err error) {
			if c.SandboxJobWait, err = parseDurationOrZero(v); err == nil && c.SandboxJobWait > time.Minute {
				err = errors.New("must be between 0s and 1m")
			}
			return
		}},
	{Env: "MEDFORGE_COMPETITIONS_PPROF_ADDR", Default: "",
		Doc:   "host:port where `medforge serve` exposes net/http/pprof, for benchmarks; empty (never set in production) for none.",
		apply: func(c *Config, v string) error { c.CompetitionsPprofAddr = v; return nil }},
}

// validOwner accepts "" or uid:gid with numeric ids.
func validOwner(v string) error {
	if v == "" {
		return nil
	}
	u, g, ok := strings.Cut(v, ":")
	if _, err := parseInt(u, 0); !ok || err != nil {
		return errors.New("want uid:gid such as 65532:65532")
	}
	if _, err := parseInt(g, 0); err != nil {
		return errors.New("want uid:gid such as 65532:65532")
	}
	return nil
}
