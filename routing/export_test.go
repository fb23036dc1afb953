package routing

// Test-only hooks of the routing package's own tests.

// Synced reports whether the table has been loaded from the database at
// least once.
func (t *Table) Synced() bool { return t.synced.Load() }
