package store

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"net"
	"syscall"

	"github.com/go-sql-driver/mysql"
)

// MariaDB server error numbers the code reacts to.
const (
	errDuplicateEntry  = 1062
	errLockWaitTimeout = 1205
	errDeadlock        = 1213
	errRowIsReferenced = 1451
	errNoReferencedRow = 1452
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

// IsUnavailable reports whether err means the database could not be
// reached or dropped the connection (refused, reset, no socket, a broken
// connection, the server shutting down or out of connections), as opposed
// to a query the database answered with an error. Callers answer it as a
// brief outage (HTTP 503 with Retry-After), never as a server bug.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	switch mysqlNumber(err) {
	case 1040, 1053, 1077, 1927: // too many connections, shutdown, normal shutdown, connection killed
		return true
	}
	var ne net.Error
	var oe *net.OpError
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, sql.ErrConnDone) || errors.As(err, &oe) || errors.As(err, &ne) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}
