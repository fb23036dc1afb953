package gpu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/medforge/medforge/sessions"
)

// ErrNoNVML means the NVML library (libnvidia-ml.so.1) could not be loaded:
// the host has no NVIDIA driver. Use the declared provider there.
var ErrNoNVML = errors.New("NVML library libnvidia-ml.so.1 not found (no NVIDIA driver on this host); set MEDFORGE_GPUS=none or a declared list such as 0,1,2,3")

// NVML is the GPU provider backed by NVIDIA's management library. Containers
// get their GPU by UUID through a device request. It is safe for concurrent
// use.
type NVML struct {
	lib nvml.Interface
	log *slog.Logger

	mu   sync.Mutex
	xids map[string][]uint64 // critical XIDs seen per GPU UUID since its last Check
}

var _ sessions.GPUProvider = (*NVML)(nil)

// OpenNVML loads libnvidia-ml at run time and initializes it. On a host
// without the library it returns ErrNoNVML, never a crash.
func OpenNVML(log *slog.Logger) (*NVML, error) {
	return NewNVML(nvml.New(), log)
}

// NewNVML initializes NVML through lib (nvml.New() in production, a go-nvml
// mock in tests). Close shuts it down.
func NewNVML(lib nvml.Interface, log *slog.Logger) (n *NVML, err error) {
	if log == nil {
		log = slog.Default()
	}
	defer func() {
		// go-nvml panics instead of returning when the library cannot be
		// opened in some versions; either way the caller gets ErrNoNVML.
		if r := recover(); r != nil {
			n, err = nil, fmt.Errorf("%w: %v", ErrNoNVML, r)
		}
	}()
	switch ret := lib.Init(); ret {
	case nvml.SUCCESS:
	case nvml.ERROR_LIBRARY_NOT_FOUND, nvml.ERROR_DRIVER_NOT_LOADED:
		return nil, fmt.Errorf("%w: %s", ErrNoNVML, nvml.ErrorString(ret))
	default:
		return nil, fmt.Errorf("initialize NVML: %s", nvml.ErrorString(ret))
	}
	return &NVML{lib: lib, log: log, xids: map[string][]uint64{}}, nil
}

// Close shuts NVML down.
func (n *NVML) Close() error {
	if ret := n.lib.Shutdown(); ret != nvml.SUCCESS {
		return fmt.Errorf("shut down NVML: %s", nvml.ErrorString(ret))
	}
	return nil
}

// Kind is "nvml".
func (n *NVML) Kind() string { return "nvml" }

// Attach is true: containers get the GPU by UUID.
func (n *NVML) Attach() bool { return true }

// Devices lists every GPU NVML sees, by index.
func (n *NVML) Devices(context.Context) ([]sessions.GPU, error) {
	count, ret := n.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("count GPUs: %s", nvml.ErrorString(ret))
	}
	out := make([]sessions.GPU, 0, count)
	for i := 0; i < count; i++ {
		d, ret := n.lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("GPU %d: handle: %s", i, nvml.ErrorString(ret))
		}
		uuid, ret := d.GetUUID()
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("GPU %d: uuid: %s", i, nvml.ErrorString(ret))
		}
		name, _ := d.GetName()
		var mem int64
		if m, ret := d.GetMemoryInfo(); ret == nvml.SUCCESS {
			mem = int64(m.Total)
		}
		out = append(out, sessions.GPU{Index: i, UUID: uuid, Name: name, MemoryBytes: mem})
	}
	return out, nil
}

// applicationXIDs are XIDs caused by user programs (illegal address,
// graphics engine exceptions, page faults, preemptive cleanup...): they say
// nothing about the hardware, so they do not fail the gate. Every other
// critical XID does. The list follows NVIDIA's k8s device plugin.
var applicationXIDs = map[uint64]bool{13: true, 31: true, 43: true, 45: true, 68: true, 109: true}

// WatchXIDs records critical XID events until ctx ends; Check reports and
// clears them. It returns when ctx is done or when events are not
// supported (the error says so).
func (n *NVML) WatchXIDs(ctx context.Context) error {
	set, ret := n.lib.EventSetCreate()
	if ret != nvml.SUCCESS {
		return fmt.Errorf("create NVML event set: %s", nvml.ErrorString(ret))
	}
	defer set.Free()
	count, ret := n.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return fmt.Errorf("count GPUs: %s", nvml.ErrorString(ret))
	}
	registered := 0
	for i := 0; i < count; i++ {
		d, ret := n.lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			continue
		}
		if ret := d.RegisterEvents(nvml.EventTypeXidCriticalError, set); ret == nvml.SUCCESS {
			registered++
		} else {
			n.log.Warn("GPU does not report XID events", "index", i, "nvml", nvml.ErrorString(ret))
		}
	}
	if registered == 0 {
		return errors.New("no GPU reports XID events")
	}
	for ctx.Err() == nil {
		e, ret := set.Wait(500)
		if ret == nvml.ERROR_TIMEOUT {
			continue
		}
		if ret != nvml.SUCCESS {
			n.log.Warn("NVML event wait failed", "nvml", nvml.ErrorString(ret))
			continue
		}
		n.recordEvent(e)
	}
	return nil
}

func (n *NVML) recordEvent(e nvml.EventData) {
	if e.EventType != nvml.EventTypeXidCriticalError || applicationXIDs[e.EventData] || e.Device == nil {
		return
	}
	uuid, ret := e.Device.GetUUID()
	if ret != nvml.SUCCESS {
		return
	}
	n.log.Error("critical XID on GPU", "uuid", uuid, "xid", e.EventData)
	n.mu.Lock()
	n.xids[uuid] = append(n.xids[uuid], e.EventData)
	n.mu.Unlock()
}

// Check is the health gate. A GPU is unhealthy when pages are pending
// retirement, a row remap failed or is pending, compute processes are left
// on it, or a critical XID was seen since the last Check. Checks a GPU does
// not support are skipped. The reason lists every failure found.
func (n *NVML) Check(_ context.Context, g sessions.GPU) (sessions.Health, error) {
	d, ret := n.lib.DeviceGetHandleByUUID(g.UUID)
	if ret != nvml.SUCCESS {
		return sessions.Health{}, fmt.Errorf("GPU %s: handle: %s", g.UUID, nvml.ErrorString(ret))
	}
	var reasons []string
	if st, ret := d.GetRetiredPagesPendingStatus(); ret == nvml.SUCCESS && st == nvml.FEATURE_ENABLED {
		reasons = append(reasons, "retired pages pending (reset the GPU)")
	}
	if _, _, pending, failed, ret := d.GetRemappedRows(); ret == nvml.SUCCESS {
		if failed {
			reasons = append(reasons, "row remapping failed")
		} else if pending {
			reasons = append(reasons, "row remapping pending (reset the GPU)")
		}
	}
	if procs, ret := d.GetComputeRunningProcesses(); ret == nvml.SUCCESS && len(procs) > 0 {
		pids := make([]string, 0, len(procs))
		for _, p := range procs {
			pids = append(pids, fmt.Sprint(p.Pid))
		}
		reasons = append(reasons, "leftover compute processes (pids "+strings.Join(pids, ",")+")")
	}
	n.mu.Lock()
	xids := n.xids[g.UUID]
	delete(n.xids, g.UUID)
	n.mu.Unlock()
	if len(xids) > 0 {
		sort.Slice(xids, func(i, j int) bool { return xids[i] < xids[j] })
		s := make([]string, 0, len(xids))
		for _, x := range xids {
			s = append(s, fmt.Sprint(x))
		}
		reasons = append(reasons, "critical XID "+strings.Join(s, ","))
	}
	if len(reasons) == 0 {
		return sessions.Health{}, nil
	}
	return sessions.Health{Unhealthy: true, Reason: strings.Join(reasons, "; ")}, nil
}

// Utilization is NVML's GPU utilisation rate of g (percent of the last
// sample period with a kernel running), found by UUID, or by index for a
// GPU without one.
func (n *NVML) Utilization(_ context.Context, g sessions.GPU) (int, error) {
	var (
		d   nvml.Device
		ret nvml.Return
	)
	if g.UUID != "" {
		d, ret = n.lib.DeviceGetHandleByUUID(g.UUID)
	} else {
		d, ret = n.lib.DeviceGetHandleByIndex(g.Index)
	}
	if ret != nvml.SUCCESS {
		return 0, fmt.Errorf("GPU %d: handle: %s", g.Index, nvml.ErrorString(ret))
	}
	u, ret := d.GetUtilizationRates()
	if ret != nvml.SUCCESS {
		return 0, fmt.Errorf("GPU %d: utilization: %s", g.Index, nvml.ErrorString(ret))
	}
	return int(u.Gpu), nil
}

var _ sessions.UtilizationSampler = (*NVML)(nil)
