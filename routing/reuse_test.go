package routing_test

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/medforge/medforge/routing"
	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/sessions/dockerrt"
	"github.com/medforge/medforge/store/testdb"
)

// imposter starts a stand-in IDE that is no session at all, with the
// hostname "imposter", at ip on the external session network, retrying
// while the engine has not yet released the address; it returns the
// container's id.
func imposter(t *testing.T, cli *client.Client, ip string) string {
	t.Helper()
	ctx := ctxT(t, time.Minute)
	for {
		c, err := cli.ContainerCreate(ctx, &container.Config{Image: standinImage, Hostname: "imposter"}, nil,
			&network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
				dockerrt.ExternalNetwork: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: ip}},
			}}, nil, "mf-imposter-"+testdb.Unique(""))
		if err != nil {
			t.Fatalf("create imposter: %v", err)
		}
		t.Cleanup(func() {
			_ = cli.ContainerRemove(ctxT(t, 30*time.Second), c.ID, container.RemoveOptions{Force: true})
		})
		if err = cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err == nil {
			return c.ID
		}
		_ = cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		select {
		case <-ctx.Done():
			t.Fatalf("start imposter at %s: %v", ip, err)
		case <-time.After(50 * time.Millisecond): // the address is still taken
		}
	}
}

// ownedRoute starts an EXTERNAL session for a new user and returns the
// user's identity cookie, the session's host, its route and its IP.
func ownedRoute(t *testing.T, s *stack) (cookie, host string, r *routing.Route, ip string) {
	t.Helper()
	u := testdb.User(t, s.st, testdb.UserOpts{})
	cookie = testdb.SessionCookie(t, s.st, u.User)
	sess := s.running(u.ID, sessions.External)
	host = s.sessionHost(sess.Slug, sessions.External)
	r, ok := s.table.Lookup(sess.Slug)
	if !ok {
		t.Fatal("no route for a running session")
	}
	ip, _, _ = net.SplitHostPort(r.Upstream)
	return cookie, host, r, ip
}

// A container's address handed to another container never reaches the
// old container's owner: not when the old container is killed behind the
// API's back and the address is taken at once, and not when it silently
// leaves its network (no exit event) and a resync follows.
func TestReusedAddressNeverReachesOldOwner(t *testing.T) {
	s := newStack(t)
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := ctxT(t, 3*time.Minute)

	t.Run("killed container", func(t *testing.T) {
		cookie, host, r, ip := ownedRoute(t, s)
		if got := s.get(host, "/", cookie, nil); got.status != 200 {
			t.Fatalf("owner before the kill: %d %s", got.status, got.body)
		}

		// The owner keeps asking through Caddy while the container dies
		// and an imposter takes its address.
		var stop atomic.Bool
		var served, asked atomic.Int64
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				got := s.get(host, "/", cookie, nil)
				asked.Add(1)
				if h, ok := ide(got.body); ok && h == "imposter" {
					served.Add(1)
				}
			}
		}()
		if err := cli.ContainerKill(ctx, r.ContainerID, "KILL"); err != nil {
			t.Fatal(err)
		}
		imposter(t, cli, ip)
		// The imposter answers on the address (Caddy could reach it) ...
		direct := &http.Client{Timeout: 2 * time.Second}
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := direct.Get("http://" + net.JoinHostPort(ip, "8080") + "/")
			if err == nil {
				resp.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("imposter never answered at %s: %v", ip, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		// ... and the owner keeps asking for a while after.
		time.Sleep(2 * time.Second)
		stop.Store(true)
		wg.Wait()
		if n := served.Load(); n > 0 {
			t.Fatalf("the imposter at the dead container's address answered the old owner %d of %d times", n, asked.Load())
		}
		if got := s.get(host, "/", cookie, nil); got.status == 200 {
			t.Fatalf("owner after the kill: %d %s", got.status, got.body)
		}
	})

	t.Run("container left its network", func(t *testing.T) {
		cookie, host, r, ip := ownedRoute(t, s)
		if err := cli.NetworkDisconnect(ctx, dockerrt.ExternalNetwork, r.ContainerID, true); err != nil {
			t.Fatal(err)
		}
		imposter(t, cli, ip)
		if err := s.table.Resync(ctx); err == nil {
			t.Fatal("resync resolved a container that has no address")
		}
		got := s.get(host, "/", cookie, nil)
		if h, ok := ide(got.body); ok && h == "imposter" {
			t.Fatal("the imposter at the session's old address answered its owner after a resync")
		}
		if got.status != 404 {
			t.Fatalf("owner after the container left its network: %d %s", got.status, got.body)
		}
	})
}
