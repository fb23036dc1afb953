// Package migrations embeds the goose migrations in sql/ into the binary.
//
// Each file is a zero-padded goose migration (NNNNN_name.sql) with Up and
// Down parts; sqlc reads the Up parts as the schema. Numbers are reserved by
// area: 00001-00009 platform/identity, 00010-00019 competitions, 00020-00029
// sessions. A migration, once committed, is never edited: add a new one.
// This package never opens a database; store.Migrate applies the files.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed *.sql
var files embed.FS

// FS holds every *.sql migration at its root (plus upgradetest/ in a
// binary built with the upgradetest tag; see upgradetest.go).
var FS fs.FS = files
