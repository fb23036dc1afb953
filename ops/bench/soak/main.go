// Command soak runs mixed traffic against a `medforge serve` child for a
// fixed time from many concurrent connections (browse, leaderboard, valid
// and invalid uploads, the session-proxy check) and reports the server's
// RSS over time, p50/p99 per route and the answers by status. Any 5xx is a
// failure (exit 1). ops/bench/bench-soak.sh runs it under `make bench`; it
// is not part of the product.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/medforge/medforge/httpapi"
	"github.com/medforge/medforge/identity"
	"github.com/medforge/medforge/ops/bench/benchkit"
	"github.com/medforge/medforge/store"
)

var (
	bin      = flag.String("bin", "bin/medforge", "medforge binary")
	dsn      = flag.String("dsn", "", "database DSN (the soak database; reset first)")
	port     = flag.Int("port", 18193, "port for medforge serve")
	conns    = flag.Int("conns", 500, "concurrent connections (one client loop each)")
	duration = flag.Duration("duration", 60*time.Second, "how long the mixed traffic runs")
	users    = flag.Int("users", 500, "users the connections act as (one each, round robin)")
	workDir  = flag.String("work", ".run/bench/soak", "scratch directory")
)

// The traffic mix, in parts of 100.
var mix = []struct {
	route  string
	weight int
}{
	{"GET /competitions", 15},
	{"GET /competitions/{slug}", 10},
	{"GET /datasets/{slug}", 5},
	{"GET /competitions/{slug}/leaderboard", 30},
	{"POST /competitions/{slug}/submissions (valid)", 10},
	{"POST /competitions/{slug}/submissions (invalid)", 10},
	{"GET /auth/session-proxy", 20},
}

type user struct{ token, cookie string }

type stats struct {
	mu     sync.Mutex
	lat    map[string][]time.Duration
	status map[string]map[string]int // route -> "201", "429 rate_limited", ...
	errs   map[string]int            // transport errors by route
}

func (s *stats) add(route string, d time.Duration, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lat[route] = append(s.lat[route], d)
	if s.status[route] == nil {
		s.status[route] = map[string]int{}
	}
	s.status[route][status]++
}

func main() {
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	_, st, err := benchkit.FreshDB(ctx, *dsn)
	benchkit.Must(err)
	os.RemoveAll(*workDir)
	env := benchkit.ServeEnv(*dsn, *port, *workDir,
		// Every connection comes from 127.0.0.1, and each user uploads
		// about once a second: the default upload limits would answer
		// nearly every upload 429 before the intake. They stay on (every
		// upload is counted) but high, so that validation, staging and the
		// accepting transaction do the work; the daily cap (20) still
		// refuses some valid uploads.
		"MEDFORGE_UPLOADS_PER_IP=1000000", "MEDFORGE_UPLOADS_PER_USER=1000000", "MEDFORGE_LOG_LEVEL=warn")
	slug := "soak-titanic"
	bdir := filepath.Join(*workDir, "bundle")
	files, err := benchkit.TitanicBundle(bdir, slug, "accuracy", `"daily_cap": 20`)
	benchkit.Must(err)
	benchkit.Must(benchkit.Run(env, *bin, "competition", "import", bdir))
	us := makeUsers(ctx, st, *users)

	srv, err := benchkit.StartServe(*bin, env, filepath.Join(*workDir, "serve.log"))
	benchkit.Must(err)
	defer func() { srv.Process.Signal(os.Interrupt); srv.Wait() }()
	host := fmt.Sprintf("127.0.0.1:%d", *port)
	base := "http://" + host + "/api/v2"
	benchkit.Must(benchkit.WaitHealthy(base))
	time.Sleep(2 * time.Second)
	idle := benchkit.RSS(srv.Process.Pid)

	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		MaxIdleConns: *conns, MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns,
		DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	}}
	valid := files.SampleSubmission
	invalid := append([]byte("PassengerId,Survived\n"), bytes.Repeat([]byte("892,7\n"), 50)...)
	s := &stats{lat: map[string][]time.Duration{}, status: map[string]map[string]int{}, errs: map[string]int{}}
	var fivexx atomic.Int64

	// RSS once a second.
	var samples []sample
	start := time.Now()
	stopSampling := make(chan struct{})
	var sampling sync.WaitGroup
	sampling.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-t.C:
				samples = append(samples, sample{time.Since(start), benchkit.RSS(srv.Process.Pid)})
			}
		}
	})

	tr := &traffic{client: client, base: base, slug: slug, valid: valid, invalid: invalid,
		deadline: start.Add(*duration), s: s, fivexx: &fivexx}
	var wg sync.WaitGroup
	for c := range *conns {
		wg.Go(func() { tr.conn(c, us[c%len(us)]) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopSampling)
	sampling.Wait()
	after := benchkit.RSS(srv.Process.Pid)

	report(s, elapsed, len(us), fivexx.Load(), samples, idle, after)
	if n := fivexx.Load(); n > 0 {
		benchkit.Die("%d answers were 5xx; see %s/serve.log", n, *workDir)
	}
}

// sample is the server's RSS at a moment of the run.
type sample struct {
	at  time.Duration
	rss int64
}

// traffic is what every connection's client loop shares.
type traffic struct {
	client         *http.Client
	base, slug     string
	valid, invalid []byte
	deadline       time.Time
	s              *stats
	fivexx         *atomic.Int64
}

// conn is connection c's client loop, acting as u until the deadline: a
// route drawn from mix, its latency and answer recorded.
func (t *traffic) conn(c int, u user) {
	rng := rand.New(rand.NewPCG(uint64(c), 7))
	for time.Now().Before(t.deadline) {
		n := rng.IntN(100)
		i := 0
		for ; n >= mix[i].weight; i++ {
			n -= mix[i].weight
		}
		route := mix[i].route
		req := t.request(i, c, u)
		t0 := time.Now()
		resp, err := t.client.Do(req)
		d := time.Since(t0)
		if err != nil {
			t.s.mu.Lock()
			t.s.errs[route]++
			t.s.mu.Unlock()
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		status := strconv.Itoa(resp.StatusCode)
		if resp.StatusCode >= 400 {
			status += " " + problemCode(b)
		}
		if resp.StatusCode >= 500 {
			t.fivexx.Add(1)
		}
		t.s.add(route, d, status)
	}
}

// request is connection c's request for mix[i], as u.
func (t *traffic) request(i, c int, u user) *http.Request {
	base, slug := t.base, t.slug
	var req *http.Request
	switch i {
	case 0:
		req, _ = http.NewRequest("GET", base+"/competitions", nil)
	case 1:
		req, _ = http.NewRequest("GET", base+"/competitions/"+slug, nil)
	case 2:
		req, _ = http.NewRequest("GET", base+"/datasets/"+slug, nil)
	case 3:
		req, _ = http.NewRequest("GET", base+"/competitions/"+slug+"/leaderboard?limit=100", nil)
	case 4, 5:
		file := t.valid
		if i == 5 {
			file = t.invalid
		}
		req = uploadRequest(base+"/competitions/"+slug+"/submissions", u.token, file)
	case 6:
		// Caddy's forward_auth call for a session host: the
		// caller's cookie and the session host. No session
		// runs here (that needs Docker), so the decision is
		// 404 after authentication and the routing lookup.
		req, _ = http.NewRequest("GET", base+"/auth/session-proxy", nil)
		req.Host = "s-soak" + strconv.Itoa(c%50) + ".external.medforge.localhost"
		req.Header.Set("Cookie", httpapi.CookieName+"="+u.cookie)
	}
	return req
}

// report prints the run: totals, p50/p99 per route against GET
// /competitions as the reference, the answers, and the server's RSS.
func report(s *stats, elapsed time.Duration, nUsers int, fivexx int64, samples []sample, idle, after int64) {
	fmt.Printf("soak: %d connections, %s of mixed traffic against medforge serve (embedded worker), %d users, %d cores, load average at the end %s\n",
		*conns, elapsed.Round(time.Second), nUsers, benchkit.NumCPU(), benchkit.LoadAvg())
	total := 0
	for _, m := range mix {
		total += len(s.lat[m.route])
	}
	fmt.Printf("  %d requests, %.0f req/s; 5xx answers: %d; transport errors: %d\n", total, float64(total)/elapsed.Seconds(), fivexx, sum(s.errs))
	// The reference: GET /competitions, the cheapest database-backed read,
	// under the same load in the same run.
	for _, l := range s.lat {
		slices.Sort(l)
	}
	ref := s.lat[mix[0].route]
	fmt.Printf("  %-52s %8s %9s %9s %9s  %s\n", "route", "count", "p50 ms", "p99 ms", "p99/ref", "answers")
	for _, m := range mix {
		l := s.lat[m.route]
		var answers []string
		for k, v := range s.status[m.route] {
			answers = append(answers, fmt.Sprintf("%s: %d", k, v))
		}
		slices.Sort(answers)
		if e := s.errs[m.route]; e > 0 {
			answers = append(answers, fmt.Sprintf("transport errors: %d", e))
		}
		ratio := 0.0
		if r := benchkit.Pct(ref, .99); r > 0 {
			ratio = float64(benchkit.Pct(l, .99)) / float64(r)
		}
		fmt.Printf("  %-52s %8d %9.1f %9.1f %8.2fx  %s\n", m.route, len(l), benchkit.Ms(benchkit.Pct(l, .5)), benchkit.Ms(benchkit.Pct(l, .99)), ratio, strings.Join(answers, ", "))
	}
	var peak int64
	var line []string
	for _, sm := range samples {
		peak = max(peak, sm.rss)
		if int(sm.at.Round(time.Second).Seconds())%10 == 0 {
			line = append(line, fmt.Sprintf("%ds %d", int(sm.at.Round(time.Second).Seconds()), sm.rss>>20))
		}
	}
	fmt.Printf("  server RSS (MiB): idle %d, peak %d, after %d; over time: %s\n", idle>>20, peak>>20, after>>20, strings.Join(line, ", "))
}

func uploadRequest(url, token string, file []byte) *http.Request {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "submission.csv")
	fw.Write(file)
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, url, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}

// problemCode is the "code" of a problem+json body, "" if none.
func problemCode(b []byte) string {
	i := bytes.Index(b, []byte(`"code":"`))
	if i < 0 {
		return ""
	}
	rest := b[i+8:]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

// makeUsers creates n users, each with an API token (uploads) and a
// login cookie (the session-proxy check only takes cookies).
func makeUsers(ctx context.Context, st store.Store, n int) []user {
	id, err := identity.NewService(st, identity.Options{Params: identity.TestParams, PasswordMinLength: 8,
		LoginMaxAttempts: 5, LoginMaxAttemptsPerIP: 5, LoginWindow: time.Minute, SessionTTL: time.Hour})
	if err != nil {
		benchkit.Die("%v", err)
	}
	const pw = "soak-password-123"
	out := make([]user, n)
	for i := range n {
		email := fmt.Sprintf("soak%d@example.org", i)
		u, err := id.CreateUser(ctx, identity.NewUser{Email: email, Password: pw, DisplayName: fmt.Sprintf("soaker %d", i)})
		if err != nil {
			benchkit.Die("user: %v", err)
		}
		_, tok, err := id.CreateToken(ctx, u.ID, "soak", time.Hour)
		if err != nil {
			benchkit.Die("token: %v", err)
		}
		sess, err := id.Login(ctx, email, pw, fmt.Sprintf("10.9.%d.%d", i/250, i%250+1), "soak")
		if err != nil {
			benchkit.Die("login: %v", err)
		}
		out[i] = user{token: tok, cookie: sess.Token}
	}
	return out
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
