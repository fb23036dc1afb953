package stacktest

import (
	"io"
	"net"
	"os"
	"sync"
)

// SockProxy forwards the unix socket Path to the unix socket Target (for
// example the Docker engine's), so a test can take the target away and
// bring it back: Down closes the listener and every open connection, Up
// listens again on the same path.
type SockProxy struct {
	Path, Target string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

// Up listens on Path and forwards each connection to Target.
func (p *SockProxy) Up() error {
	_ = os.Remove(p.Path)
	ln, err := net.Listen("unix", p.Path)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("unix", p.Target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			go func() { _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
	return nil
}

// Down stops listening and closes every forwarded connection.
func (p *SockProxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
