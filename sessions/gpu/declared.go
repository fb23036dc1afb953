package gpu

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/medforge/medforge/sessions"
)

// Declared is the GPU provider for hosts without NVIDIA GPUs: a list of
// device indexes declared in MEDFORGE_GPUS. Nothing is attached to
// containers and every health check passes; it exists so allocation,
// exclusivity and the whole lifecycle run on any host. It is shown as
// "declared" everywhere, never as a real GPU.
type Declared struct {
	indexes []int
}

var _ sessions.GPUProvider = (*Declared)(nil)

// ParseDeclared reads MEDFORGE_GPUS: "none" (or empty) for no GPU, or a
// comma-separated list of distinct non-negative indexes such as "0,1,2,3".
func ParseDeclared(v string) (*Declared, error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "none" {
		return &Declared{}, nil
	}
	seen := map[int]bool{}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("MEDFORGE_GPUS: %q is not a GPU index (want none or a list such as 0,1,2,3)", f)
		}
		if seen[n] {
			return nil, fmt.Errorf("MEDFORGE_GPUS: index %d is listed twice", n)
		}
		seen[n] = true
		out = append(out, n)
	}
	sort.Ints(out)
	return &Declared{indexes: out}, nil
}

// Kind is "declared".
func (d *Declared) Kind() string { return "declared" }

// Attach is false: a declared GPU is not a device the container can get.
func (d *Declared) Attach() bool { return false }

// Devices lists the declared indexes, each named as declared.
func (d *Declared) Devices(context.Context) ([]sessions.GPU, error) {
	out := make([]sessions.GPU, 0, len(d.indexes))
	for _, i := range d.indexes {
		out = append(out, sessions.GPU{Index: i, Name: fmt.Sprintf("declared GPU %d (no device attached)", i)})
	}
	return out, nil
}

// Check always passes: there is no hardware to inspect.
func (d *Declared) Check(context.Context, sessions.GPU) (sessions.Health, error) {
	return sessions.Health{}, nil
}
