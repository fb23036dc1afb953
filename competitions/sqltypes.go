package competitions

import "database/sql"

type (
	sqlNullTime  = sql.NullTime
	sqlNullFloat = sql.NullFloat64
	sqlNullInt64 = sql.NullInt64
)

func sqlNullInt(v int64) sql.NullInt64 { return sql.NullInt64{Int64: v, Valid: true} }
