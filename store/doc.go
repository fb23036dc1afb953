// Package store is MedForge's data layer: it opens MariaDB, applies the
// embedded goose migrations, and wraps the sqlc-generated Querier (package
// store/db) in a Store that adds transactions (InTx).
//
// Every multi-statement invariant lives inside one InTx. Driver errors are
// classified by typed helpers (IsDuplicate, IsNotFound, ...), never by
// matching error text. store never talks HTTP and never hashes secrets; it
// stores what identity hands it.
package store
