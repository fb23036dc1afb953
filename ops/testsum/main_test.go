package main

import (
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		ok      bool
		contain []string
		absent  []string
	}{
		{
			name: "all pass",
			in: `{"Action":"output","Package":"p","Test":"TestA","Output":"noise\n"}
{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:9: no GPU here\n"}
{"Action":"skip","Package":"p","Test":"TestB"}
{"Action":"output","Package":"p","Output":"ok  \tp\t0.1s\n"}
{"Action":"pass","Package":"p"}`,
			ok:      true,
			contain: []string{"ok  \tp", "tests: 1 passed, 0 failed, 1 skipped", "skipped p TestB", "no GPU here"},
			absent:  []string{"noise"},
		},
		{
			name: "a failed test prints its output",
			in: `{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:3: want 1, got 2\n"}
{"Action":"fail","Package":"p","Test":"TestA"}
{"Action":"fail","Package":"p"}`,
			ok:      false,
			contain: []string{"want 1, got 2", "tests: 0 passed, 1 failed, 0 skipped"},
		},
		{
			name:    "a build failure fails the run",
			in:      `{"Action":"build-output","ImportPath":"p","Output":"p/x.go:1: syntax error\n"}` + "\n" + `{"Action":"fail","Package":"p"}` + "\n" + `{"Action":"pass","Package":"q","Test":"TestQ"}`,
			ok:      false,
			contain: []string{"syntax error"},
		},
		{
			name:    "no test ran is a failure",
			in:      `{"Action":"output","Package":"p","Output":"?   \tp\t[no test files]\n"}`,
			ok:      false,
			contain: []string{"tests: 0 passed, 0 failed, 0 skipped"},
		},
		{
			name:    "lines that are not JSON pass through",
			in:      "go: downloading x\n" + `{"Action":"pass","Package":"p","Test":"TestA"}`,
			ok:      true,
			contain: []string{"go: downloading x"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out strings.Builder
			ok, err := summarize(strings.NewReader(tc.in), &out)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.ok {
				t.Errorf("ok = %v, want %v; output:\n%s", ok, tc.ok, out.String())
			}
			for _, c := range tc.contain {
				if !strings.Contains(out.String(), c) {
					t.Errorf("output lacks %q:\n%s", c, out.String())
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(out.String(), a) {
					t.Errorf("output has %q:\n%s", a, out.String())
				}
			}
		})
	}
}
