package store

import (
	"errors"
	"fmt"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

var (
	// ErrNotFound is returned when a looked-up record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists is returned when a record would duplicate a unique
	// value (name, IP, MAC, guest CID, id).
	ErrAlreadyExists = errors.New("already exists")
	// ErrInUse is returned when deleting a record that others still
	// reference (e.g. an image used by a VM).
	ErrInUse = errors.New("in use")
	// ErrSchemaTooNew is returned by Open when the database was written by
	// a newer banger.
	ErrSchemaTooNew = errors.New("database schema is newer than this binary")
)

// sqliteCode returns the extended result code of a driver error, or 0.
func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}

func isUnique(err error) bool {
	c := sqliteCode(err)
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// isForeignKey reports a foreign key violation. ON DELETE RESTRICT is
// enforced immediately and SQLite reports it as SQLITE_CONSTRAINT_TRIGGER
// with a "FOREIGN KEY constraint failed" message, so both forms count.
func isForeignKey(err error) bool {
	switch sqliteCode(err) {
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return true
	case sqlite3.SQLITE_CONSTRAINT_TRIGGER:
		return strings.Contains(err.Error(), "FOREIGN KEY constraint failed")
	}
	return false
}

// uniqueColumn extracts "name" from "UNIQUE constraint failed: vms.name".
func uniqueColumn(err error) string {
	msg := err.Error()
	const marker = "constraint failed: "
	i := strings.LastIndex(msg, marker)
	if i < 0 {
		return ""
	}
	rest := msg[i+len(marker):]
	if j := strings.IndexAny(rest, " ,("); j >= 0 {
		rest = rest[:j]
	}
	if _, col, ok := strings.Cut(rest, "."); ok {
		return col
	}
	return rest
}

// duplicateError turns a UNIQUE violation on an insert of kind (e.g. "vm")
// into ErrAlreadyExists naming the duplicated value.
func duplicateError(kind string, err error, values map[string]string) error {
	col := uniqueColumn(err)
	label := col
	switch col {
	case "guest_cid":
		label = "guest cid"
	case "id", "":
		label = "id"
	}
	if v, ok := values[col]; ok {
		return fmt.Errorf("%s %s %q: %w", kind, label, v, ErrAlreadyExists)
	}
	return fmt.Errorf("%s %s: %w", kind, label, ErrAlreadyExists)
}
