package dockerrt

import (
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/docker/docker/api/types/network"
)

// InputChain is the iptables chain that keeps internal sessions from
// opening connections to the host itself.
const InputChain = "MEDFORGE-SESSIONS-IN"

// A Docker internal network drops forwarded traffic, but packets a
// container sends to any of the host's own addresses (its gateway, the
// host's public address) are delivered locally through INPUT, which Docker
// does not filter: an internal session could reach every service listening
// on the host. guardInput closes that: new connections arriving from the
// network's bridge are dropped, while replies to connections the host
// opened (the API's readiness probe, the session proxy) still pass.
func (d *Docker) guardInput(ctx context.Context, name string) error {
	info, err := d.cli.NetworkInspect(ctx, name, network.InspectOptions{})
	if err != nil {
		return fmt.Errorf("inspect network %s: %w", name, err)
	}
	bridge := info.Options["com.docker.network.bridge.name"]
	if bridge == "" {
		bridge = "br-" + info.ID[:12]
	}
	ipt := func(args ...string) error {
		out, err := exec.CommandContext(ctx, "iptables", append([]string{"-w", "5"}, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("iptables %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	ensure := func(chain string, insert bool, rule ...string) error {
		if ipt(append([]string{"-C", chain}, rule...)...) == nil {
			return nil
		}
		if insert {
			return ipt(append([]string{"-I", chain, "1"}, rule...)...)
		}
		return ipt(append([]string{"-A", chain}, rule...)...)
	}
	if ipt("-n", "-L", InputChain) != nil {
		if err := ipt("-N", InputChain); err != nil {
			return err
		}
	}
	if err := ensure(InputChain, false, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"); err != nil {
		return err
	}
	if err := ensure(InputChain, false, "-j", "DROP"); err != nil {
		return err
	}
	return ensure("INPUT", true, "-i", bridge, "-j", InputChain)
}
