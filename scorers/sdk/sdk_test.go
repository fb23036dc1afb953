package sdk

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/medforge/medforge/engine/abi"
)

func TestRun(t *testing.T) {
	t.Parallel()
	good, _ := abi.EncodeInput(&abi.Input{Units: 1})
	tests := []struct {
		name       string
		m          Metric
		input      []byte
		wantPublic bool
		wantErr    string // "" means success
	}{
		{"success", func(abi.Input) (abi.Result, error) { return abi.Result{Primary: 1}, nil }, good, false, ""},
		{"malformed input", func(abi.Input) (abi.Result, error) { return abi.Result{}, nil }, []byte("junk"), false, "malformed input"},
		{"no metric", nil, good, false, "no metric registered"},
		{"NaN result", func(abi.Input) (abi.Result, error) { return abi.Result{Primary: math.NaN()}, nil }, good, false, "invalid result"},
		{"wrong per-unit count", func(abi.Input) (abi.Result, error) { return abi.Result{Primary: 1, PerUnit: []float64{1, 2}}, nil }, good, false, "invalid result"},
		{"public error", func(abi.Input) (abi.Result, error) { return abi.Result{}, Public("bad boxes") }, good, true, "bad boxes"},
		{"internal error", func(abi.Input) (abi.Result, error) { return abi.Result{}, errors.New("holdout 3") }, good, false, "holdout 3"},
		{"panic", func(abi.Input) (abi.Result, error) { panic("boom") }, good, false, "metric panicked: boom"},
		{"panic with error", func(abi.Input) (abi.Result, error) { panic(errors.New("bang")) }, good, false, "metric panicked: bang"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := abi.DecodeOutput(Run(tt.m, tt.input), 1)
			if tt.wantErr == "" {
				if err != nil || res.Primary != 1 {
					t.Fatalf("got %+v, %v", res, err)
				}
				return
			}
			var ge *abi.GuestError
			if !errors.As(err, &ge) || ge.Public != tt.wantPublic || !strings.Contains(ge.Message, tt.wantErr) {
				t.Fatalf("got %v, want guest error %q public=%v", err, tt.wantErr, tt.wantPublic)
			}
		})
	}
}
