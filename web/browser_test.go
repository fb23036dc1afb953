package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's Chromium (ops/dev/deps.sh installs it).
const chromiumPath = "/usr/bin/chromium"

// browser starts headless Chromium for the test; every *.localhost name
// resolves to this machine, as on a developer's laptop.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("%s is missing: run ops/dev/deps.sh (Debian package chromium)", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("host-resolver-rules", "MAP *.localhost 127.0.0.1, MAP localhost 127.0.0.1"),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancelB(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// Accept confirm() dialogs (stopping a session asks first).
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return ctx
}

// step runs actions with a deadline, failing the test with what it was
// doing and a screenshot of where it stopped.
func step(t *testing.T, ctx context.Context, name string, d time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		failAt(t, ctx, name, err)
	}
}

// value runs one action that reads something from the page.
func value[T any](t *testing.T, ctx context.Context, name string, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		failAt(t, ctx, name, err)
	}
	return v
}

func failAt(t *testing.T, ctx context.Context, name string, err error) {
	t.Helper()
	shot(t, ctx, "failed-"+strings.ReplaceAll(name, " ", "-"))
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(lctx, chromedp.Location())
	body, _ := chromedp.Run(lctx, chromedp.Text(chromedp.CSS("main")))
	t.Fatalf("%s: %v\nat %s\n%s", name, err, loc, body)
}

// checkLabels fails when a visible form control on the current page has no
// accessible name (a <label>, aria-label or aria-labelledby).
func checkLabels(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	js := `Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea, button')).filter(function (el) {
		if (el.tagName === 'BUTTON') { return !el.textContent.trim() && !el.getAttribute('aria-label'); }
		return !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby');
	}).map(function (el) { return el.outerHTML.slice(0, 120); })`
	if bad := value(t, ctx, "unlabelled controls", chromedp.Evaluate[[]string](js)); len(bad) > 0 {
		t.Errorf("%s: controls without an accessible name:\n%s", page, strings.Join(bad, "\n"))
	}
}

// navigateRetry navigates, retrying when Chromium aborts the load with
// ERR_NETWORK_CHANGED: starting a session container adds network
// interfaces on this host, which Chromium takes for a network change.
func navigateRetry(url string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		var err error
		for i := 0; i < 5; i++ {
			if _, err = chromedp.Navigate(url)(ctx, tg); err == nil || !strings.Contains(err.Error(), "ERR_NETWORK_CHANGED") {
				return err
			}
			time.Sleep(time.Second)
		}
		return err
	})
}

func screenshotDir(t *testing.T) string {
	dir := os.Getenv("MEDFORGE_RUN_DIR")
	if dir == "" {
		dir = filepath.Join(repoRoot(t), ".run")
	}
	dir = filepath.Join(dir, "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// shot saves a full-page PNG of the current page under .run/screenshots.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	buf, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	ext := ".png"
	if len(buf) > 2 && buf[0] == 0xff && buf[1] == 0xd8 {
		ext = ".jpg"
	}
	p := filepath.Join(screenshotDir(t), name+ext)
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", p)
}

func download(t *testing.T, url string) []byte {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", url, res.StatusCode, err)
	}
	return b
}

// TestBrowserJourney drives the real stack in headless Chromium: a
// competitor signs up, submits a bad and then a good CSV and watches it get
// scored onto the leaderboard, creates an API token, launches a GPU session
// and opens its IDE through Caddy, stops it; an admin rescores the
// competition and watches the job finish. Screenshots of the key pages go
// to .run/screenshots.
func TestBrowserJourney(t *testing.T) {
	s := startStack(t, true, "MEDFORGE_SCORING_WORKERS=1")
	ctx := browser(t)
	const slug = "titanic-survival"

	dir := t.TempDir()
	good := filepath.Join(dir, "predictions.csv")
	if err := os.WriteFile(good, download(t, s.API+"/api/v2/datasets/"+slug+"/files/sample_submission.csv"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "wrong-columns.csv")
	if err := os.WriteFile(bad, []byte("id,label\n1,0\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	step(t, ctx, "home", 30*time.Second,
		chromedp.Navigate(s.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/competitions/`+slug+`"]`)))
	shot(t, ctx, "01-home-anonymous")
	step(t, ctx, "keyboard: Tab reaches the skip link first", 10*time.Second, chromedp.KeyEvent("\t"))
	if cls := value(t, ctx, "focused element", chromedp.Evaluate[string](`document.activeElement.className`)); cls != "skip" {
		t.Fatalf("first Tab focused %q, want the skip link", cls)
	}

	name := fmt.Sprintf("Ada %d", time.Now().UnixNano()%100000)
	email := fmt.Sprintf("ada%d@example.org", time.Now().UnixNano()%1000000)
	step(t, ctx, "sign up", 30*time.Second,
		chromedp.Click(chromedp.CSS(`a[href="/signup"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#signup-email`)),
		chromedp.SendKeys(chromedp.CSS(`#signup-name`), name),
		chromedp.SendKeys(chromedp.CSS(`#signup-email`), email),
		chromedp.SendKeys(chromedp.CSS(`#signup-password`), "correct horse battery staple"),
		chromedp.Click(chromedp.CSS(`#signup button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.who strong`)))
	who := value(t, ctx, "read who", chromedp.Text(chromedp.CSS(`.who strong`)))
	if who != name {
		t.Fatalf("signed in as %q, want %q", who, name)
	}

	step(t, ctx, "competition page", 30*time.Second,
		chromedp.Navigate(s.URL+"/competitions/"+slug),
		chromedp.WaitVisible(chromedp.CSS(`#submit-file`)))

	step(t, ctx, "bad submission is rejected with its reason", 30*time.Second,
		chromedp.SetUploadFiles(chromedp.CSS(`#submit-file`), []string{bad}),
		chromedp.Click(chromedp.CSS(`#submit button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#submit .form-error`)))
	problem := value(t, ctx, "read problem", chromedp.Text(chromedp.CSS(`#submit .form-error`)))
	if !strings.Contains(problem, "not a valid submission") {
		t.Fatalf("error shown for a bad file: %q", problem)
	}
	shot(t, ctx, "02-submission-rejected")

	step(t, ctx, "good submission becomes scored and reaches the leaderboard", 90*time.Second,
		chromedp.SetUploadFiles(chromedp.CSS(`#submit-file`), []string{good}),
		chromedp.Click(chromedp.CSS(`#submit button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#my-submissions tr[data-status]`)),
		chromedp.WaitVisible(chromedp.CSS(`#my-submissions tr[data-status="scored"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#leaderboard`)),
		chromedp.WaitVisible(chromedp.CSS(`svg.plot`)))
	board := value(t, ctx, "read board", chromedp.Text(chromedp.CSS(`#leaderboard`)))
	if !strings.Contains(board, name) {
		t.Fatalf("leaderboard lacks %q:\n%s", name, board)
	}
	subID := value(t, ctx, "scored submission id", chromedp.AttributeValue(chromedp.CSS(`#my-submissions tr[data-status="scored"]`), "data-id")).Value
	shot(t, ctx, "03-competition-scored")
	checkLabels(t, ctx, "competition")

	step(t, ctx, "phone-sized competition page", 30*time.Second,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`#leaderboard`)))
	shot(t, ctx, "04-competition-phone")
	step(t, ctx, "back to desktop size", 10*time.Second, chromedp.EmulateViewport(1280, 900))

	step(t, ctx, "create an API token", 30*time.Second,
		chromedp.Navigate(s.URL+"/account"),
		chromedp.WaitVisible(chromedp.CSS(`#token-name`)),
		chromedp.SendKeys(chromedp.CSS(`#token-name`), "laptop"),
		chromedp.Click(chromedp.CSS(`#new-token button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#token-secret`)))
	token := value(t, ctx, "read token", chromedp.Value(chromedp.CSS(`#token-value`)))
	if !strings.HasPrefix(token, "mfp_") {
		t.Fatalf("token shown: %q", token)
	}
	shot(t, ctx, "05-token-created")
	checkLabels(t, ctx, "account")

	sessionsStep(t, ctx, s)

	step(t, ctx, "sign out", 30*time.Second,
		chromedp.Click(chromedp.CSS(`.who button`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/signup"]`)))

	step(t, ctx, "admin signs in and lands on the competition's admin page", 30*time.Second,
		chromedp.Navigate(s.URL+"/admin/competitions/"+slug),
		chromedp.WaitVisible(chromedp.CSS(`#login-email`)),
		chromedp.SendKeys(chromedp.CSS(`#login-email`), s.AdminEmail),
		chromedp.SendKeys(chromedp.CSS(`#login-password`), s.AdminPassword),
		chromedp.Click(chromedp.CSS(`#login button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#rescore-reason`)))
	step(t, ctx, "admin rescores the competition and sees the job finish", 90*time.Second,
		chromedp.SendKeys(chromedp.CSS(`#rescore-reason`), "browser test"),
		chromedp.Click(chromedp.CSS(`#rescore button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#rescore-jobs tr[data-job]`)),
		chromedp.WaitVisible(chromedp.CSS(`#rescore-jobs tr[data-state="finished"]`)))
	shot(t, ctx, "07-admin-rescore-finished")
	checkLabels(t, ctx, "admin competition")

	scorers := os.Getenv("MEDFORGE_SCORERS_DIR")
	if scorers == "" {
		scorers = filepath.Join(repoRoot(t), "bin", "scorers")
	}
	step(t, ctx, "admin uploads a scorer module and reads its validation report", 90*time.Second,
		chromedp.SetUploadFiles(chromedp.CSS(`#scorer-file`), []string{filepath.Join(scorers, "accuracy-c.wasm")}),
		chromedp.SendKeys(chromedp.CSS(`#scorer-name`), "accuracy-c"),
		chromedp.SendKeys(chromedp.CSS(`#scorer-version`), "browser-1"),
		chromedp.Click(chromedp.CSS(`#scorer button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#scorer-report li`)))
	if report := value(t, ctx, "report", chromedp.Text(chromedp.CSS(`#scorer-report`))); !strings.Contains(report, "passed") {
		t.Fatalf("validation report:\n%s", report)
	}
	shot(t, ctx, "07b-admin-scorer-report")

	step(t, ctx, "admin rescores one submission", 60*time.Second,
		chromedp.Navigate(s.URL+"/admin"),
		chromedp.SendKeys(chromedp.CSS(`#score-one-id`), subID),
		chromedp.Click(chromedp.CSS(`#score-one button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#score-one output.result:not(:empty)`)))
	if out := value(t, ctx, "rescore result", chromedp.Text(chromedp.CSS(`#score-one output.result`))); !strings.Contains(out, "#"+subID+": scored") {
		t.Fatalf("rescore one: %q", out)
	}

	step(t, ctx, "admin users page", 30*time.Second,
		chromedp.Navigate(s.URL+"/admin/users"),
		chromedp.WaitVisible(chromedp.CSS(`#users`)))
	shot(t, ctx, "08-admin-users")
	checkLabels(t, ctx, "admin users")
	formID := value(t, ctx, "user row", chromedp.Evaluate[string](fmt.Sprintf(
		`Array.from(document.querySelectorAll('#users tr')).find(function (r) { return r.textContent.indexOf(%q) >= 0; }).querySelector('form').id`, email)))
	step(t, ctx, "admin grants the INTERNAL entitlement", 30*time.Second,
		chromedp.Click(chromedp.CSS(`#`+formID+` input[name=can_use_internal]`)),
		chromedp.Click(chromedp.CSS(`#`+formID+` button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#`+formID+` .form-ok:not(:empty)`)))
	step(t, ctx, "admin GPUs page", 30*time.Second,
		chromedp.Navigate(s.URL+"/admin/gpus"),
		chromedp.WaitVisible(chromedp.CSS(`main h1`)))
	if s.served(t, "/api/v2/admin/gpus") {
		step(t, ctx, "admin disables and re-enables a GPU", 30*time.Second,
			chromedp.SendKeys(chromedp.CSS(`#reason-0`), "fan noise"),
			chromedp.Click(chromedp.CSS(`#gpus form button.danger`)),
			chromedp.WaitVisible(chromedp.CSS(`#gpus .status-stopped`)))
		if row := value(t, ctx, "gpu row", chromedp.Text(chromedp.CSS(`#gpus tbody tr`))); !strings.Contains(row, "fan noise") {
			t.Fatalf("disabled GPU row: %q", row)
		}
		shot(t, ctx, "09-admin-gpus")
		step(t, ctx, "re-enable", 30*time.Second,
			chromedp.Click(chromedp.CSS(`#gpus form button`)),
			chromedp.WaitVisible(chromedp.CSS(`#gpus .status-running`)))
	} else {
		shot(t, ctx, "09-admin-gpus")
	}

	step(t, ctx, "unknown page says what to do", 30*time.Second,
		chromedp.Navigate(s.URL+"/competitions/no-such-competition"))
	heading := value(t, ctx, "read heading", chromedp.Text(chromedp.CSS(`main h1`)))
	if heading != "Not found" {
		t.Fatalf("error page heading %q", heading)
	}
	shot(t, ctx, "10-error-not-found")

	if s.served(t, "/api/v2/internal/sessions") {
		step(t, ctx, "the competitor now sees the INTERNAL launch", 30*time.Second,
			chromedp.Click(chromedp.CSS(`.who button`)),
			chromedp.WaitVisible(chromedp.CSS(`a[href="/signup"]`)),
			chromedp.Navigate(s.URL+"/sessions"),
			chromedp.WaitVisible(chromedp.CSS(`#login-email`)),
			chromedp.SendKeys(chromedp.CSS(`#login-email`), email),
			chromedp.SendKeys(chromedp.CSS(`#login-password`), "correct horse battery staple"),
			chromedp.Click(chromedp.CSS(`#login button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`#launch-internal button`)))
		shot(t, ctx, "11-sessions-internal-entitled")
	}
}

// sessionsStep launches an EXTERNAL session, watches it run, opens its IDE
// through Caddy when the session-proxy endpoint is served, and stops it.
func sessionsStep(t *testing.T, ctx context.Context, s *stack) {
	t.Helper()
	step(t, ctx, "sessions page", 30*time.Second,
		chromedp.Navigate(s.URL+"/sessions"),
		chromedp.WaitVisible(chromedp.CSS(`#launch-h, #sessions-unavailable`)))
	if !s.served(t, "/api/v2/external/sessions") {
		shot(t, ctx, "06-sessions-unavailable")
		t.Log("GAP: the session runtime is not mounted on this server (no Docker?); launching was not tested")
		return
	}
	step(t, ctx, "launch an EXTERNAL session and watch it run", 3*time.Minute,
		chromedp.Click(chromedp.CSS(`#launch-external button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.session[data-status], #past-sessions`)),
		chromedp.WaitVisible(chromedp.CSS(`.session[data-status="running"] a.button, #past-sessions`)))
	if n := value(t, ctx, "count running", chromedp.Evaluate[int](`document.querySelectorAll('.session[data-status="running"]').length`)); n != 1 {
		failAt(t, ctx, "session runs", fmt.Errorf("the session did not run: %s", value(t, ctx, "past", chromedp.Text(chromedp.CSS(`#past-sessions`)))))
	}
	ide := value(t, ctx, "read IDE link", chromedp.AttributeValue(chromedp.CSS(`.session[data-status="running"] a.button`), "href")).Value
	shot(t, ctx, "06-session-running")
	checkLabels(t, ctx, "sessions")
	if !strings.Contains(ide, ".external.medforge.localhost") {
		t.Fatalf("IDE link %q", ide)
	}
	if s.Caddy && s.served(t, "/api/v2/auth/session-proxy") {
		step(t, ctx, "open the IDE through Caddy", 60*time.Second,
			navigateRetry(ide),
			chromedp.WaitReady(chromedp.CSS(`body`)))
		body := value(t, ctx, "read body", chromedp.Text(chromedp.CSS(`body`)))
		shot(t, ctx, "06b-session-ide")
		// The IDE (the stand-in in tests, code-server in production) answers
		// from inside the session container.
		if !strings.Contains(body, "mf-session-") && !strings.Contains(strings.ToLower(body), "code-server") {
			t.Fatalf("IDE through Caddy answered:\n%s", body)
		}
		step(t, ctx, "back to sessions", 30*time.Second,
			navigateRetry(s.URL+"/sessions"),
			chromedp.WaitVisible(chromedp.CSS(`.session[data-status="running"]`)))
	} else {
		t.Logf("GAP: the session-proxy endpoint is not served by this binary (caddy=%v); the IDE link %s was not opened", s.Caddy, ide)
	}
	step(t, ctx, "stop the session; it moves to past sessions with a snapshot", 2*time.Minute,
		chromedp.Click(chromedp.CSS(`.session form button.danger`)),
		chromedp.WaitVisible(chromedp.CSS(`#past-sessions`)))
	past := value(t, ctx, "read past", chromedp.Text(chromedp.CSS(`#past-sessions`)))
	if !strings.Contains(past, "stopped") || !strings.Contains(past, "@stop-") {
		t.Fatalf("past sessions:\n%s", past)
	}
	shot(t, ctx, "06c-sessions-past")
	restoreAndQueueStep(t, ctx, s)
}

// restoreAndQueueStep (the stack has one GPU): the user starts a session
// from the snapshot of the one just stopped and sees it run, stops it; then
// another user holds the GPU, the user launches and is queued at position
// 1, and the session starts by itself when the other user stops.
func restoreAndQueueStep(t *testing.T, ctx context.Context, s *stack) {
	t.Helper()
	step(t, ctx, "restore: start a session from the snapshot", 3*time.Minute,
		chromedp.WaitVisible(chromedp.CSS(`#snapshots tr[data-snapshot] button[type=submit]`)),
		chromedp.Click(chromedp.CSS(`#snapshots tr[data-snapshot] form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.session[data-status="running"]`)))
	shot(t, ctx, "06d-session-restored")
	step(t, ctx, "stop the restored session", 2*time.Minute,
		chromedp.Click(chromedp.CSS(`.session form button.danger`)),
		chromedp.WaitNotPresent(chromedp.CSS(`.session`)))

	other := otherUser(t, s)
	holder := other.post(t, "/api/v2/external/sessions", http.StatusCreated)
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(other.get(t, "/api/v2/external/sessions/current"), `"status":"running"`) {
		if time.Now().After(deadline) {
			t.Fatal("the other user's session never ran")
		}
		time.Sleep(200 * time.Millisecond)
	}
	step(t, ctx, "launch while the only GPU is taken: queued at position 1", time.Minute,
		chromedp.Click(chromedp.CSS(`#launch-external button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#queued-external[data-position="1"]`)))
	shot(t, ctx, "06e-session-queued")
	checkLabels(t, ctx, "sessions queued")
	other.post(t, "/api/v2/external/sessions/"+jsonField(holder, "id")+"/stop", http.StatusAccepted)
	step(t, ctx, "the queued session starts when the other user stops", 3*time.Minute,
		chromedp.WaitNotPresent(chromedp.CSS(`#queued-external`)),
		chromedp.WaitVisible(chromedp.CSS(`.session[data-status="running"]`)))
	shot(t, ctx, "06f-queued-session-running")
}

// apiUser is a second user driving the API with a cookie, as a browser
// on the site would (Origin included).
type apiUser struct {
	s      *stack
	cookie string
}

func otherUser(t *testing.T, s *stack) *apiUser {
	t.Helper()
	email := fmt.Sprintf("grace%d@example.org", time.Now().UnixNano()%1000000)
	body := `{"email":"` + email + `","password":"correct horse battery staple","display_name":"Grace"}`
	u := &apiUser{s: s}
	u.do(t, "POST", "/api/v2/auth/signup", body, http.StatusCreated)
	res := u.do(t, "POST", "/api/v2/auth/login", `{"email":"`+email+`","password":"correct horse battery staple"}`, http.StatusOK)
	for _, c := range res.Cookies() {
		if c.Name == "medforge_session" {
			u.cookie = c.Name + "=" + c.Value
		}
	}
	if u.cookie == "" {
		t.Fatal("login set no session cookie")
	}
	return u
}

func (u *apiUser) do(t *testing.T, method, path, body string, want int) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u.s.API+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", u.s.URL)
	if u.cookie != "" {
		req.Header.Set("Cookie", u.cookie)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, res.StatusCode, want, b)
	}
	res.Body = io.NopCloser(strings.NewReader(string(b)))
	return res
}

func (u *apiUser) post(t *testing.T, path string, want int) string {
	t.Helper()
	b, _ := io.ReadAll(u.do(t, "POST", path, "", want).Body)
	return string(b)
}

func (u *apiUser) get(t *testing.T, path string) string {
	t.Helper()
	b, _ := io.ReadAll(u.do(t, "GET", path, "", http.StatusOK).Body)
	return string(b)
}

// jsonField is the value of "key": in the envelope's data (a number).
func jsonField(body, key string) string {
	var env struct {
		Data map[string]any `json:"data"`
	}
	_ = json.Unmarshal([]byte(body), &env)
	return fmt.Sprint(env.Data[key])
}
