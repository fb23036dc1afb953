// Package strictcsv reads untrusted CSV files strictly and fast.
//
// It owns the byte-level rules every MedForge CSV must follow: UTF-8 only,
// an optional byte order mark, LF or CRLF line ends, RFC 4180 quoting, the
// same number of fields on every row, no blank rows, and size and row
// limits. It also owns the strict number syntax shared by submissions and
// holdouts (ParseInt, ParseFloat).
//
// It knows nothing about competitions: column names, types and ids are the
// business of engine/submission and engine/holdout. It never reads a file by
// itself and never allocates per field on the common path (fields are
// sub-slices of the input), so it must never be handed a buffer that its
// caller later mutates while the fields are still in use.
package strictcsv
