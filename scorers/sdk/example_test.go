package sdk_test

import (
	"errors"
	"fmt"

	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/scorers/sdk"
)

// meanAbsError is a metric as an author writes it: find the columns, compute,
// return the primary score and per-unit contributions.
func meanAbsError(in abi.Input) (abi.Result, error) {
	var truth, pred []float64
	for _, c := range in.Columns {
		switch {
		case c.Role == abi.Truth && c.Type == abi.Float64:
			truth = c.Float64
		case c.Role == abi.Prediction && c.Type == abi.Float64:
			pred = c.Float64
		}
	}
	if truth == nil || pred == nil {
		return abi.Result{}, errors.New("needs float64 truth and prediction")
	}
	per := make([]float64, in.Units)
	sum := 0.0
	for i := range per {
		d := truth[i] - pred[i]
		if d < 0 {
			d = -d
		}
		per[i] = d
		sum += d
	}
	return abi.Result{Primary: sum / float64(in.Units), PerUnit: per}, nil
}

// Run executes a metric exactly as the module's medforge_score export does,
// so metrics can be tested on the host. A module's main package would only
// call sdk.Register(meanAbsError) from init.
func ExampleRun() {
	in := &abi.Input{Units: 2, Columns: []abi.Column{
		{Name: "y", Role: abi.Truth, Type: abi.Float64, Float64: []float64{1, 2}},
		{Name: "y", Role: abi.Prediction, Type: abi.Float64, Float64: []float64{1.5, 2}},
	}}
	buf, _ := abi.EncodeInput(in)
	res, err := abi.DecodeOutput(sdk.Run(meanAbsError, buf), in.Units)
	fmt.Println(res.Primary, res.PerUnit, err)
	// Output: 0.25 [0.5 0] <nil>
}

// Public marks an error as safe to show the participant; any other error
// stays internal, and so does a panic.
func ExamplePublic() {
	in := &abi.Input{Units: 1}
	buf, _ := abi.EncodeInput(in)
	for _, m := range []sdk.Metric{
		func(abi.Input) (abi.Result, error) { return abi.Result{}, sdk.Public("too few boxes") },
		func(abi.Input) (abi.Result, error) { return abi.Result{}, errors.New("truth value 7 unexpected") },
		func(abi.Input) (abi.Result, error) { panic("index out of range") },
	} {
		_, err := abi.DecodeOutput(sdk.Run(m, buf), in.Units)
		var ge *abi.GuestError
		errors.As(err, &ge)
		fmt.Println(ge.Public, len(ge.Message) > 0)
	}
	// Output:
	// true true
	// false true
	// false true
}
