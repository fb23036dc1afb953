//go:build stack

package stacktest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medforge/medforge/sessions/standin"
)

// stack drives ops/stack/stack.sh for a test stack of its own: its own
// folder, Compose project, networks, bridges and firewall chains, so it
// never touches an admin's `make stack-up` stack or the session tests'
// networks. Host ports 80 and 443 are the only shared resource; make
// test-stack holds the shared Docker lock for the whole run.
type stack struct {
	t       *testing.T
	root    string
	dir     string
	project string
	env     []string
}

func newStack(t *testing.T) *stack {
	root, err := standin.FindModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	project := "medforge-stacktest"
	dir := filepath.Join(root, ".run", "stacktest")
	return &stack{t: t, root: root, dir: dir, project: project, env: append(os.Environ(),
		"MEDFORGE_STACK_DIR="+dir,
		"MEDFORGE_STACK_PROJECT="+project,
		"MEDFORGE_STACK_NET=172.28",
		"MEDFORGE_STACK_BRIDGE_PREFIX=mft",
		"MEDFORGE_STACK_FW_PREFIX=MFTEST",
		// Short, so that the test sees the probe follow the firewall.
		"MEDFORGE_ISOLATION_PROBE_INTERVAL=5s",
	)}
}

// sh runs stack.sh with args; stderr is logged, stdout returned.
func (s *stack) sh(timeout time.Duration, stdin string, args ...string) (string, error) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.root, "ops", "stack", "stack.sh"), args...)
	cmd.Env = s.env
	cmd.Dir = s.root
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if errb.Len() > 0 {
		s.t.Logf("stack.sh %s:\n%s", strings.Join(args, " "), tail(errb.String(), 40))
	}
	if err != nil {
		return out.String(), fmt.Errorf("stack.sh %s: %w\n%s", strings.Join(args, " "), err, tail(errb.String(), 40))
	}
	return out.String(), nil
}

func (s *stack) must(timeout time.Duration, args ...string) string {
	s.t.Helper()
	out, err := s.sh(timeout, "", args...)
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// figure logs a measurement and appends it to .run/stacktest-figures.txt,
// which make test-stack prints after the tally (passing tests' logs are not
// shown).
func (s *stack) figure(format string, a ...any) {
	line := fmt.Sprintf(format, a...)
	s.t.Log(line)
	f, err := os.OpenFile(filepath.Join(filepath.Dir(s.dir), "stacktest-figures.txt"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err == nil {
		fmt.Fprintf(f, "%s %s\n", time.Now().UTC().Format(time.RFC3339), line)
		f.Close()
	}
}

func (s *stack) envValue(key string) string {
	for _, f := range []string{"stack.env", "images.env"} {
		b, _ := os.ReadFile(filepath.Join(s.dir, f))
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, key+"="); ok {
				return v
			}
		}
	}
	return ""
}

func tail(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

func docker(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// client speaks HTTPS to the stack's Caddy on 127.0.0.1 for every
// *.medforge.localhost host, trusting only the stack's internal CA root.
type client struct {
	t    *testing.T
	http *http.Client
	base string
}

func (s *stack) client(t *testing.T) *client {
	pem, err := os.ReadFile(filepath.Join(s.dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("ca.crt holds no certificate")
	}
	port := s.envValue("MEDFORGE_HTTPS_PORT")
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, _ := net.SplitHostPort(addr)
			if host != "medforge.localhost" && !strings.HasSuffix(host, ".medforge.localhost") {
				return nil, fmt.Errorf("test client refuses to dial %s", addr)
			}
			return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	base := "https://medforge.localhost"
	if port != "443" {
		base += ":" + port
	}
	return &client{t: t, base: base, http: &http.Client{Transport: tr, Jar: jar, Timeout: 60 * time.Second}}
}

// browse loads url as a browser page would (following redirects, so a
// session host goes through the handshake with the platform host) and
// returns the final status and body.
func (c *client) browse(url string) (int, []byte) {
	c.t.Helper()
	return c.send(http.MethodGet, url, nil, map[string]string{"Sec-Fetch-Mode": "navigate", "Accept": "text/html"})
}

// do sends a request (JSON body unless body is a *multipart) and returns the
// status and the body.
func (c *client) do(method, url string, body any) (int, []byte) {
	c.t.Helper()
	return c.send(method, url, body, nil)
}

func (c *client) send(method, url string, body any, hdr map[string]string) (int, []byte) {
	c.t.Helper()
	if strings.HasPrefix(url, "/") {
		url = c.base + url
	}
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case *form:
		rd, ctype = &b.buf, b.ctype
	default:
		j, _ := json.Marshal(b)
		rd, ctype = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Origin", c.base)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp.StatusCode, out
}

// data decodes the envelope's data into v and fails on an unexpected status.
func (c *client) data(method, url string, body any, want int, v any) {
	c.t.Helper()
	code, out := c.do(method, url, body)
	if code != want {
		c.t.Fatalf("%s %s: %d, want %d: %s", method, url, code, want, out)
	}
	if v == nil {
		return
	}
	var env struct{ Data json.RawMessage }
	if err := json.Unmarshal(out, &env); err != nil {
		c.t.Fatalf("%s %s: %v: %s", method, url, err, out)
	}
	if raw, ok := v.(*json.RawMessage); ok {
		*raw = env.Data
		return
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		c.t.Fatalf("%s %s: %v: %s", method, url, err, out)
	}
}

func (c *client) login(email, password string) {
	c.t.Helper()
	c.data("POST", "/api/v2/auth/login", map[string]string{"email": email, "password": password}, 200, nil)
}

type form struct {
	buf   bytes.Buffer
	ctype string
}

func fileForm(t *testing.T, name string, data []byte) *form {
	return fileFormFields(t, name, data, nil)
}

// fileFormFields is fileForm with extra form fields.
func fileFormFields(t *testing.T, name string, data []byte, fields map[string]string) *form {
	f := &form{}
	mw := multipart.NewWriter(&f.buf)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	w, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(data)
	_ = mw.Close()
	f.ctype = mw.FormDataContentType()
	return f
}

func eventually(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// runCmd runs a command on the host and returns its combined output.
func runCmd(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
