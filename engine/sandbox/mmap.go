package sandbox

import (
	"sync"
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// mmapAllocator backs each guest memory with an anonymous mapping of the
// memory's maximum size. Growth never copies and never moves the buffer,
// pages are only committed when the guest touches them, and nothing sits on
// the worker's Go heap.
//
// Page faults are the expensive part of a fresh instance (on the
// development VM, touching 8 MiB of new pages took 60-100 ms without huge
// pages and under 1 ms with them, once faulted). So mappings are asked for
// transparent huge pages and recycled: Free keeps up to keepMappings
// mappings, and Allocate hands one back only after zeroing every byte the
// previous guest could have touched, so a guest always starts from zeroed
// memory and never sees another scoring's data.
type mmapAllocator struct {
	mu   sync.Mutex
	free []*mmapMemory
}

const (
	keepMappings = 2
	// keepDirtyMax: a mapping whose guest touched more than this is
	// unmapped rather than kept, to bound an idle worker's memory.
	keepDirtyMax = 256 << 20
)

func (a *mmapAllocator) Allocate(_, max uint64) experimental.LinearMemory {
	if max == 0 {
		return &mmapMemory{}
	}
	a.mu.Lock()
	for i, m := range a.free {
		if uint64(len(m.buf)) == max {
			a.free = append(a.free[:i], a.free[i+1:]...)
			a.mu.Unlock()
			clear(m.buf[:m.dirty])
			m.dirty, m.owner = 0, a
			return m
		}
	}
	a.mu.Unlock()
	buf, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		return &mmapMemory{}
	}
	adviseHuge(buf)
	return &mmapMemory{buf: buf, owner: a}
}

// release takes back a freed mapping, or unmaps it.
func (a *mmapAllocator) release(m *mmapMemory) {
	if m.dirty <= keepDirtyMax {
		a.mu.Lock()
		if len(a.free) < keepMappings {
			a.free = append(a.free, &mmapMemory{buf: m.buf, dirty: m.dirty})
			a.mu.Unlock()
			return
		}
		a.mu.Unlock()
	}
	_ = syscall.Munmap(m.buf)
}

// close unmaps every kept mapping.
func (a *mmapAllocator) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, m := range a.free {
		_ = syscall.Munmap(m.buf)
	}
	a.free = nil
}

type mmapMemory struct {
	buf   []byte
	dirty int // bytes the guest could have written: the largest size handed out
	owner *mmapAllocator
}

func (m *mmapMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.buf)) {
		return nil
	}
	if int(size) > m.dirty {
		m.dirty = int(size)
	}
	return m.buf[:size]
}

func (m *mmapMemory) Free() {
	if m.buf == nil {
		return
	}
	if m.owner != nil {
		m.owner.release(m)
	} else {
		_ = syscall.Munmap(m.buf)
	}
	m.buf = nil
}
