package identity

import (
	"sync"
	"time"
)

// authCache maps a credential hash to the principal it authenticates. Every
// invalidation bumps epoch; a fill that began before an invalidation is
// dropped, so a lookup racing a logout can never re-insert a dead credential.
type authCache struct {
	mu     sync.RWMutex
	epoch  uint64
	byHash map[string]*cacheEntry
	byUser map[int64]map[string]struct{}
}

type cacheEntry struct {
	principal Principal
	expiresAt time.Time // credential expiry; zero means none
	fetchedAt time.Time
	touchedAt time.Time // last write of last_seen/last_used to the database
}

func newAuthCache() *authCache {
	return &authCache{byHash: map[string]*cacheEntry{}, byUser: map[int64]map[string]struct{}{}}
}

func (c *authCache) get(hash string) (*cacheEntry, bool) {
	c.mu.RLock()
	e, ok := c.byHash[hash]
	c.mu.RUnlock()
	return e, ok
}

func (c *authCache) currentEpoch() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.epoch
}

// put stores e unless an invalidation happened since epoch was read.
func (c *authCache) put(hash string, e *cacheEntry, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != epoch {
		return
	}
	c.byHash[hash] = e
	uid := e.principal.User.ID
	if c.byUser[uid] == nil {
		c.byUser[uid] = map[string]struct{}{}
	}
	c.byUser[uid][hash] = struct{}{}
}

func (c *authCache) invalidate(hash string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	if e, ok := c.byHash[hash]; ok {
		delete(c.byHash, hash)
		uid := e.principal.User.ID
		delete(c.byUser[uid], hash)
		if len(c.byUser[uid]) == 0 {
			delete(c.byUser, uid)
		}
	}
}

func (c *authCache) invalidateUser(uid int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	for h := range c.byUser[uid] {
		delete(c.byHash, h)
	}
	delete(c.byUser, uid)
}

func (c *authCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.byHash)
}
