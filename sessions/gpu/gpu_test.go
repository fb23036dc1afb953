package gpu_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/sessions/gpu"
)

func TestParseDeclared(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    []int
		wantErr bool
	}{
		{name: "none", in: "none", want: []int{}},
		{name: "empty", in: "", want: []int{}},
		{name: "four", in: "0,1,2,3", want: []int{0, 1, 2, 3}},
		{name: "unsorted with spaces", in: " 3, 1 ", want: []int{1, 3}},
		{name: "duplicate", in: "0,0", wantErr: true},
		{name: "negative", in: "-1", wantErr: true},
		{name: "word", in: "all", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, err := gpu.ParseDeclared(tc.in)
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			devs, err := d.Devices(context.Background())
			require.NoError(t, err)
			got := []int{}
			for _, g := range devs {
				got = append(got, g.Index)
				assert.Contains(t, g.Name, "declared", "a declared GPU is named as such")
				assert.Empty(t, g.UUID)
			}
			assert.Equal(t, tc.want, got)
			assert.Equal(t, "declared", d.Kind())
			assert.False(t, d.Attach())
		})
	}
}

// mockedServer is go-nvml's own mock of a DGX A100 (8 GPUs) with every
// health probe the gate uses answering "healthy" unless a test overrides it.
func mockedServer(t *testing.T) *server.Server {
	t.Helper()
	s := dgxa100.New()
	for _, d := range s.Devices {
		md := d.(*server.Device)
		md.GetRetiredPagesPendingStatusFunc = func() (nvml.EnableState, nvml.Return) { return nvml.FEATURE_DISABLED, nvml.SUCCESS }
		md.GetRemappedRowsFunc = func() (int, int, bool, bool, nvml.Return) { return 0, 0, false, false, nvml.SUCCESS }
		md.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) { return nil, nvml.SUCCESS }
		md.RegisterEventsFunc = func(uint64, nvml.EventSet) nvml.Return { return nvml.SUCCESS }
	}
	return s
}

func TestNVMLDevicesFromMock(t *testing.T) {
	t.Parallel()
	s := mockedServer(t)
	n, err := gpu.NewNVML(s, nil)
	require.NoError(t, err)
	devs, err := n.Devices(context.Background())
	require.NoError(t, err)
	require.Len(t, devs, 8)
	for i, g := range devs {
		assert.Equal(t, i, g.Index)
		assert.NotEmpty(t, g.UUID)
		assert.Contains(t, g.Name, "A100")
		assert.Positive(t, g.MemoryBytes)
	}
	assert.True(t, n.Attach())
	assert.Equal(t, "nvml", n.Kind())
}

// The health gate against go-nvml's mock devices: each failure mode makes
// the GPU unhealthy with a reason naming it; unsupported probes are
// skipped rather than failing a healthy GPU.
func TestNVMLHealthGate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		break_ func(d *server.Device)
		want   string // substring of the reason; "" means healthy
	}{
		{name: "healthy", break_: func(*server.Device) {}},
		{name: "retired pages pending", want: "retired pages pending", break_: func(d *server.Device) {
			d.GetRetiredPagesPendingStatusFunc = func() (nvml.EnableState, nvml.Return) { return nvml.FEATURE_ENABLED, nvml.SUCCESS }
		}},
		{name: "row remap failure", want: "row remapping failed", break_: func(d *server.Device) {
			d.GetRemappedRowsFunc = func() (int, int, bool, bool, nvml.Return) { return 0, 3, false, true, nvml.SUCCESS }
		}},
		{name: "row remap pending", want: "row remapping pending", break_: func(d *server.Device) {
			d.GetRemappedRowsFunc = func() (int, int, bool, bool, nvml.Return) { return 1, 0, true, false, nvml.SUCCESS }
		}},
		{name: "leftover compute processes", want: "leftover compute processes (pids 4242,4343)", break_: func(d *server.Device) {
			d.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
				return []nvml.ProcessInfo{{Pid: 4242}, {Pid: 4343}}, nvml.SUCCESS
			}
		}},
		{name: "probes not supported", break_: func(d *server.Device) {
			d.GetRetiredPagesPendingStatusFunc = func() (nvml.EnableState, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
			d.GetRemappedRowsFunc = func() (int, int, bool, bool, nvml.Return) { return 0, 0, false, false, nvml.ERROR_NOT_SUPPORTED }
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := mockedServer(t)
			tc.break_(s.Devices[2].(*server.Device))
			n, err := gpu.NewNVML(s, nil)
			require.NoError(t, err)
			devs, err := n.Devices(context.Background())
			require.NoError(t, err)
			for _, g := range devs {
				h, err := n.Check(context.Background(), g)
				require.NoError(t, err)
				if g.Index != 2 || tc.want == "" {
					assert.False(t, h.Unhealthy, "GPU %d: %s", g.Index, h.Reason)
					continue
				}
				assert.True(t, h.Unhealthy)
				assert.Contains(t, h.Reason, tc.want)
			}
		})
	}
}

// Critical XID events seen by the watcher fail the gate of the GPU they
// name, once; application XIDs (such as 13 or 43) do not.
func TestNVMLCriticalXID(t *testing.T) {
	t.Parallel()
	s := mockedServer(t)
	events := make(chan nvml.EventData, 4)
	s.EventSetCreateFunc = func() (nvml.EventSet, nvml.Return) {
		return &mock.EventSet{
			WaitFunc: func(timeout uint32) (nvml.EventData, nvml.Return) {
				select {
				case e := <-events:
					return e, nvml.SUCCESS
				case <-time.After(time.Duration(timeout) * time.Millisecond):
					return nvml.EventData{}, nvml.ERROR_TIMEOUT
				}
			},
			FreeFunc: func() nvml.Return { return nvml.SUCCESS },
		}, nvml.SUCCESS
	}
	n, err := gpu.NewNVML(s, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- n.WatchXIDs(ctx) }()

	events <- nvml.EventData{Device: s.Devices[1], EventType: nvml.EventTypeXidCriticalError, EventData: 43} // application
	events <- nvml.EventData{Device: s.Devices[5], EventType: nvml.EventTypeXidCriticalError, EventData: 79} // fell off the bus
	devs, err := n.Devices(ctx)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		h, _ := n.Check(ctx, devs[5])
		if h.Unhealthy {
			assert.Contains(t, h.Reason, "critical XID 79")
		}
		return h.Unhealthy
	}, 5*time.Second, 20*time.Millisecond)
	h, err := n.Check(ctx, devs[1])
	require.NoError(t, err)
	assert.False(t, h.Unhealthy, "XID 43 is an application error")
	h, err = n.Check(ctx, devs[5])
	require.NoError(t, err)
	assert.False(t, h.Unhealthy, "an XID is reported once; the GPU is disabled in the database by then")
	cancel()
	require.NoError(t, <-done)
}

func TestNVMLLibraryMissingIsAClearError(t *testing.T) {
	t.Parallel()
	lib := &mock.Interface{InitFunc: func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND }}
	_, err := gpu.NewNVML(lib, nil)
	require.Error(t, err)
	assert.True(t, errors.Is(err, gpu.ErrNoNVML))
	assert.Contains(t, err.Error(), "MEDFORGE_GPUS")
}

// Against the real NVML library: runs where an NVIDIA driver is present,
// and says why it skipped elsewhere.
func TestRealNVML(t *testing.T) {
	n, err := gpu.OpenNVML(nil)
	if errors.Is(err, gpu.ErrNoNVML) {
		t.Skipf("no NVIDIA GPU here: %v", err)
	}
	require.NoError(t, err)
	defer n.Close()
	devs, err := n.Devices(context.Background())
	require.NoError(t, err)
	if len(devs) == 0 {
		t.Skip("NVML loaded but reports no GPU")
	}
	for _, g := range devs {
		assert.NotEmpty(t, g.UUID)
		assert.Positive(t, g.MemoryBytes)
		h, err := n.Check(context.Background(), g)
		require.NoError(t, err)
		t.Logf("GPU %d %s %s: unhealthy=%v %s", g.Index, g.UUID, g.Name, h.Unhealthy, h.Reason)
	}
	if os.Getenv("MEDFORGE_EXPECT_HEALTHY_GPUS") == "1" {
		for _, g := range devs {
			h, _ := n.Check(context.Background(), g)
			assert.False(t, h.Unhealthy, "GPU %d: %s", g.Index, h.Reason)
		}
	}
}

var _ sessions.GPUProvider = (*gpu.NVML)(nil)

// MEDFORGE_GPUS is outside input: any string either parses into distinct,
// sorted, non-negative indexes or is an error naming the variable.
func FuzzParseDeclared(f *testing.F) {
	for _, s := range []string{"none", "", "0,1,2,3", " 3, 1 ", "0,0", "-1", "all", "1,,2", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := gpu.ParseDeclared(s)
		if err != nil {
			if !strings.Contains(err.Error(), "MEDFORGE_GPUS") {
				t.Fatalf("error does not name the variable: %v", err)
			}
			return
		}
		devs, _ := d.Devices(context.Background())
		for i, g := range devs {
			if g.Index < 0 || (i > 0 && devs[i-1].Index >= g.Index) {
				t.Fatalf("%q: indexes not distinct, sorted, non-negative: %v", s, devs)
			}
		}
	})
}

// Utilisation samples come from NVML's utilization rates, by UUID or (for
// a GPU without one) by index, against go-nvml's mock devices.
func TestNVMLUtilizationFromMock(t *testing.T) {
	t.Parallel()
	s := mockedServer(t)
	s.Devices[1].(*server.Device).GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
		return nvml.Utilization{Gpu: 87, Memory: 40}, nvml.SUCCESS
	}
	s.Devices[2].(*server.Device).GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
		return nvml.Utilization{}, nvml.ERROR_GPU_IS_LOST
	}
	n, err := gpu.NewNVML(s, nil)
	require.NoError(t, err)
	devs, err := n.Devices(context.Background())
	require.NoError(t, err)
	pct, err := n.Utilization(context.Background(), devs[1])
	require.NoError(t, err)
	assert.Equal(t, 87, pct)
	pct, err = n.Utilization(context.Background(), sessions.GPU{Index: 1})
	require.NoError(t, err, "by index")
	assert.Equal(t, 87, pct)
	_, err = n.Utilization(context.Background(), devs[2])
	assert.ErrorContains(t, err, "utilization")
	_, err = n.Utilization(context.Background(), sessions.GPU{Index: 99})
	assert.Error(t, err)
}
