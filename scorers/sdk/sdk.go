package sdk

import (
	"errors"
	"runtime/debug"
	"strconv"

	"github.com/medforge/medforge/engine/abi"
)

// Metric scores one aligned input. It returns the result, or an error: a
// *abi.GuestError made with Public is shown to the participant; any other
// error is internal-only (admins see it; it may quote holdout values).
type Metric func(in abi.Input) (abi.Result, error)

var registered Metric

// Register makes m the module's metric. Call it once, from an init function
// of package main; a second call panics.
func Register(m Metric) {
	if registered != nil {
		panic("sdk: Register called twice")
	}
	registered = m
}

// Public returns an error whose message the host may show the participant.
// Never put holdout values in it.
func Public(msg string) error { return &abi.GuestError{Public: true, Message: msg} }

// Run decodes an encoded input, runs m on it and returns the encoded output,
// exactly as the module's score export does. It never panics: a malformed
// input, a panic in m or a result that breaks the ABI (for example a NaN
// primary score) becomes an internal error output. The input is decoded
// with abi.DecodeTrustedInput (the host encoded it); return a Result made
// by abi.NewResult to send per-unit values without a copy.
func Run(m Metric, input []byte) (out []byte) {
	in, err := abi.DecodeTrustedInput(input)
	if err != nil {
		return abi.EncodeError(&abi.GuestError{Message: "host sent a malformed input: " + err.Error()})
	}
	if m == nil {
		return abi.EncodeError(&abi.GuestError{Message: "no metric registered (call sdk.Register from init)"})
	}
	defer func() {
		if p := recover(); p != nil {
			out = abi.EncodeError(&abi.GuestError{Message: "metric panicked: " + panicText(p) + "\n" + string(debug.Stack())})
		}
	}()
	res, err := m(*in)
	if err != nil {
		var ge *abi.GuestError
		if errors.As(err, &ge) {
			return abi.EncodeError(ge)
		}
		return abi.EncodeError(&abi.GuestError{Message: err.Error()})
	}
	buf, err := abi.EncodeResult(&res, in.Units)
	if err != nil {
		return abi.EncodeError(&abi.GuestError{Message: "metric returned an invalid result: " + err.Error()})
	}
	return buf
}

func panicText(p any) string {
	switch v := p.(type) {
	case error:
		return v.Error()
	case string:
		return v
	case int:
		return strconv.Itoa(v)
	}
	return "non-error value"
}
