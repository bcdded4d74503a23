package cache

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// Memory is an in-process Store: a least-recently-used cache bounded by
// the total size of its entries, with a TTL per entry. Expired entries
// are dropped when read or when space is needed. Make one with NewMemory.
type Memory struct {
	mu       sync.Mutex
	maxBytes int64
	bytes    int64
	now      func() time.Time
	lru      *list.List // of *memItem, most recently used first
	items    map[string]*list.Element
	byModel  map[string]map[string]struct{}
}

// memItem is one stored entry.
type memItem struct {
	key     string
	entry   *Entry
	size    int64
	expires time.Time
}

// NewMemory returns an empty Memory store that holds at most maxBytes of
// entries (an estimate: body, names and a fixed overhead each). An entry
// larger than maxBytes is not stored.
func NewMemory(maxBytes int64) *Memory {
	return &Memory{
		maxBytes: maxBytes,
		now:      time.Now,
		lru:      list.New(),
		items:    make(map[string]*list.Element),
		byModel:  make(map[string]map[string]struct{}),
	}
}

// SetClock replaces the clock TTLs are measured with (time.Now by
// default). Call it before the store is used.
func (m *Memory) SetClock(now func() time.Time) { m.now = now }

// Len returns the number of entries held, expired ones included until
// they are noticed.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lru.Len()
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, key string) (*Entry, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.items[key]
	if !ok {
		return nil, false, nil
	}
	it := el.Value.(*memItem)
	if !m.now().Before(it.expires) {
		m.remove(el)
		return nil, false, nil
	}
	m.lru.MoveToFront(el)
	return it.entry, true, nil
}

// Set implements Store.
func (m *Memory) Set(_ context.Context, key string, e *Entry, ttl time.Duration) error {
	size := e.size() + int64(len(key))
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.items[key]; ok {
		m.remove(el)
	}
	if ttl <= 0 || size > m.maxBytes {
		return nil
	}
	now := m.now()
	for m.bytes+size > m.maxBytes {
		m.evict()
	}
	it := &memItem{key: key, entry: e, size: size, expires: now.Add(ttl)}
	m.items[key] = m.lru.PushFront(it)
	m.bytes += size
	keys := m.byModel[e.PublicModel]
	if keys == nil {
		keys = make(map[string]struct{})
		m.byModel[e.PublicModel] = keys
	}
	keys[key] = struct{}{}
	return nil
}

// evict drops the least recently used entry; an expired entry that
// nobody reads drifts there too. The caller holds mu and the store is not
// empty.
func (m *Memory) evict() {
	m.remove(m.lru.Back())
}

// remove drops one element; the caller holds mu.
func (m *Memory) remove(el *list.Element) {
	it := m.lru.Remove(el).(*memItem)
	delete(m.items, it.key)
	m.bytes -= it.size
	if keys := m.byModel[it.entry.PublicModel]; keys != nil {
		delete(keys, it.key)
		if len(keys) == 0 {
			delete(m.byModel, it.entry.PublicModel)
		}
	}
}

// Purge implements Store, through the model index when a model is
// given. Expired entries still held are removed but not counted, as in
// Redis where they are already gone.
func (m *Memory) Purge(_ context.Context, model string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	var els []*list.Element
	if model == "" {
		for el := m.lru.Front(); el != nil; el = el.Next() {
			els = append(els, el)
		}
	} else {
		for key := range m.byModel[model] {
			els = append(els, m.items[key])
		}
	}
	var n int
	for _, el := range els {
		if now.Before(el.Value.(*memItem).expires) {
			n++
		}
		m.remove(el)
	}
	return n, nil
}
