package abi

// Major is the ABI major version. A module declares it with the marker export
// named by MarkerExport; the host refuses modules with any other major.
const Major = 1

// Minor is the newest ABI minor version this host understands. A guest
// reports its own minor through the function named by MinorExport.
const Minor = 0

// Type is the physical type of a column, laid out as Arrow lays it out.
type Type uint8

const (
	// Int64: one little-endian int64 per unit.
	Int64 Type = 1
	// Float64: one little-endian float64 per unit.
	Float64 Type = 2
	// Utf8: Arrow utf8, int32 offsets (units+1) into a byte buffer.
	Utf8 Type = 3
	// ListFloat64: Arrow list<float64>, int32 offsets (units+1) into a
	// float64 buffer; variable-length values per unit, such as several
	// boxes of four or five numbers per image.
	ListFloat64 Type = 4
)

// Role says where a column came from.
type Role uint8

const (
	// Key columns hold the unit ids (the holdout's id column), in the
	// order shared by every other column.
	Key Role = 1
	// Truth columns come from the hidden holdout.
	Truth Role = 2
	// Prediction columns come from the participant's submission, already
	// validated and aligned to the holdout's unit order.
	Prediction Role = 3
)

// Column is one typed column of Input. Exactly the buffers its Type needs
// are set; the others are nil.
type Column struct {
	Name    string
	Role    Role
	Type    Type
	Int64   []int64   // Int64
	Float64 []float64 // Float64 values, or ListFloat64 child values
	Offsets []int32   // Utf8 and ListFloat64: Units+1 entries, Offsets[0] == 0
	Data    []byte    // Utf8 bytes
}

// Input is what a scorer receives: Units aligned units (rows, images, ...)
// and its columns, every column describing all Units units.
type Input struct {
	Units   int
	Columns []Column
}

// Named is one named secondary value of a Result.
type Named struct {
	Name  string
	Value float64
}

// Result is what a scorer returns on success.
type Result struct {
	// Primary is the official score.
	Primary float64
	// Secondary holds optional extra values, in the order the guest gave.
	Secondary []Named
	// PerUnit optionally holds each unit's contribution for metrics that
	// are a mean over units (len == Input.Units); the competitions service
	// bootstraps confidence intervals from it. NaN marks a unit left out of
	// the mean.
	PerUnit []float64

	// wire is set by NewResult: the buffer EncodeResult fills in place,
	// PerUnit already living at its per-unit offset.
	wire []byte
}

// GuestError is a failure reported by the scorer itself.
type GuestError struct {
	// Public marks the message as safe to show the participant. A message
	// that is not public is logged and shown to admins only, because it may
	// reveal holdout values.
	Public  bool
	Message string
}

func (e *GuestError) Error() string { return "scorer error: " + e.Message }
