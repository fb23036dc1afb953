package kubert

// Test-only hooks of the kubert package's own tests.

// NodeOf returns the node of a GPU row id from the last inventory sync.
func (d *Driver) NodeOf(gpuID int) string { return d.nodeOf(gpuID) }
