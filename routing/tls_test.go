package routing_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// wildcardCert writes a self-signed certificate for the production
// Caddyfile's hosts and returns the cert and key paths and a pool that
// trusts it.
func wildcardCert(t *testing.T, domain string) (string, string, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "medforge." + domain},
		DNSNames:  []string{"medforge." + domain, "*.medforge." + domain, "*.external.medforge." + domain, "*.internal.medforge." + domain},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cp, kp := filepath.Join(dir, "wildcard.crt"), filepath.Join(dir, "wildcard.key")
	if err := os.WriteFile(cp, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kp, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return cp, kp, pool
}

// TestProductionCaddyfile runs deploy/caddy/Caddyfile (TLS with a
// wildcard certificate) on loopback ports with a scripted gateway: session
// hosts are served with the wildcard certificate and routed like the local
// variant, plain HTTP redirects to HTTPS.
func TestProductionCaddyfile(t *testing.T) {
	t.Parallel()
	const domain = "example.org"
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"host": r.Host, "upstream": r.Header.Get("X-Upstream")})
	}))
	t.Cleanup(echo.Close)
	gw := &gateway{upstream: strings.TrimPrefix(echo.URL, "http://")}
	api := httptest.NewServer(gw)
	t.Cleanup(api.Close)
	cert, key, pool := wildcardCert(t, domain)
	httpPort, httpsPort := freePort(t), freePort(t)
	cmd := exec.Command("caddy", "run", "--adapter", "caddyfile", "--config", filepath.Join(repoRoot(t), "deploy", "caddy", "Caddyfile"))
	cmd.Env = append(os.Environ(), "MEDFORGE_DOMAIN="+domain, "MEDFORGE_TLS_CERT="+cert, "MEDFORGE_TLS_KEY="+key,
		"MEDFORGE_API_UPSTREAM="+strings.TrimPrefix(api.URL, "http://"), "MEDFORGE_WEB_UPSTREAM="+strings.TrimPrefix(api.URL, "http://"),
		"MEDFORGE_CADDY_HTTP_PORT="+strconv.Itoa(httpPort), "MEDFORGE_CADDY_HTTPS_PORT="+strconv.Itoa(httpsPort),
		"HOME="+t.TempDir(), "XDG_DATA_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
	logs := &lockedBuf{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("caddy log:\n%s", logs.String())
		}
	})
	dial := func(port int) func(ctx context.Context, network, _ string) (net.Conn, error) {
		return func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, "127.0.0.1:"+strconv.Itoa(port))
		}
	}
	cl := &http.Client{Timeout: 10 * time.Second,
		Transport:     &http.Transport{DialContext: dial(httpsPort), TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	plain := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dial(httpPort)},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	host := "s-abc.external.medforge." + domain
	get := func(c *http.Client, url string, hdr map[string]string) (*http.Response, string, error) {
		req, _ := http.NewRequestWithContext(ctxT(t, 10*time.Second), http.MethodGet, url, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b), nil
	}
	var resp *http.Response
	var body string
	var err error
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, body, err = get(cl, "https://"+host+"/ok", nil); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("https session host: %v", err)
	}
	if resp.StatusCode != 200 || !strings.Contains(body, `"host":"`+host+`"`) {
		t.Fatalf("https session host: %d %s", resp.StatusCode, body)
	}
	if got := resp.TLS.PeerCertificates[0].DNSNames; len(got) != 4 {
		t.Fatalf("served certificate names %v", got)
	}
	tests := []struct {
		name, url string
		hdr       map[string]string
		status    int
	}{
		{"internal session host", "https://s-abc.internal.medforge." + domain + "/ok", nil, 200},
		{"no upstream fails closed", "https://" + host + "/no-upstream", map[string]string{"X-Upstream": gw.upstream, "X-Medforge-Upstream": gw.upstream}, 502},
		{"refusal passed through", "https://" + host + "/refused", nil, 401},
		{"session-proxy path blocked", "https://" + host + "/api/v2/auth/session-proxy", nil, 403},
		{"api host", "https://api.medforge." + domain + "/api/v2/auth/session-proxy", nil, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body, err := get(cl, tc.url, tc.hdr)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || resp.Header.Get("X-Upstream") != "" {
				t.Fatalf("status %d (want %d), headers %v: %s", resp.StatusCode, tc.status, resp.Header, body)
			}
		})
	}
	t.Run("plain HTTP redirects to HTTPS", func(t *testing.T) {
		resp, _, err := get(plain, "http://"+host+"/ok", nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusPermanentRedirect || !strings.HasPrefix(resp.Header.Get("Location"), "https://"+host) {
			t.Fatalf("status %d location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}
