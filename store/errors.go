package store

import (
	"errors"

	"github.com/go-sql-driver/mysql"
)

// MariaDB server error numbers the code reacts to.
const (
	errDuplicateEntry  = 1062
	errLockWaitTimeout = 1205
	errDeadlock        = 1213
	errRowIsReferenced = 1451
	errNoReferencedRow = 1452
	errCheckConstraint = 4025
	errDataTooLong     = 1406
)

func mysqlNumber(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// IsDuplicate reports whether err is a unique-key violation (MySQL 1062).
func IsDuplicate(err error) bool { return mysqlNumber(err) == errDuplicateEntry }

// IsForeignKey reports whether err is a foreign-key violation: the referenced
// row is missing (1452) or the row is still referenced (1451).
func IsForeignKey(err error) bool {
	n := mysqlNumber(err)
	return n == errNoReferencedRow || n == errRowIsReferenced
}

// IsDeadlock reports whether the transaction was chosen as a deadlock victim
// (1213) and rolled back.
func IsDeadlock(err error) bool { return mysqlNumber(err) == errDeadlock }

// IsLockWaitTimeout reports whether a row lock was not granted in time (1205).
func IsLockWaitTimeout(err error) bool { return mysqlNumber(err) == errLockWaitTimeout }

// IsCheckViolation reports whether a CHECK constraint rejected a row (4025).
func IsCheckViolation(err error) bool { return mysqlNumber(err) == errCheckConstraint }

// IsDataTooLong reports whether a value did not fit its column (1406).
func IsDataTooLong(err error) bool { return mysqlNumber(err) == errDataTooLong }
