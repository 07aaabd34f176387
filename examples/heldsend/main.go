// Command heldsend is a goroscope example of blocking while holding a lock,
// in a page cache.
//
// refreshPage takes main.cache.mu (with a deferred Unlock), updates the
// page and, still holding the lock, sends a notification on main.events, a
// buffered channel whose consumer was never started and which is already
// full: [chan send]. Three request handlers then queue on main.cache.mu
// behind it: [sync.Mutex.Lock].
//
// events is a global, so any live goroutine could still drain it and
// unblock the whole chain: refreshPage is blocked (not leaked), and the
// three handlers are blocked with refreshPage as the lock holder.
//
// A tenant's page store lives on the heap: (*store).flush takes s.mu
// without defer and, still holding it, waits for a purge acknowledgement on
// main.flushAcks that nobody sends: [chan receive]. (*store).lookup then
// queues on s.mu: [sync.Mutex.Lock]. No global holds the mutex (main.stores
// holds the store), so the mutex is named after the local that references
// it, s.mu in main.(*store).lookup; and no deferred Unlock proves who holds
// it, so flush is only the likely holder (its argument s points at it).
// Both are blocked: the store and the channel are reachable from globals.
//
// main ends sleeping an hour at a time (live), which also keeps the
// runtime's "all goroutines are asleep" check quiet.
//
// Protocol as in the other examples (dump.go, truth.go).
package main

import (
	"flag"
	"fmt"
	"sync"
	"time"
)

var (
	parked sync.WaitGroup
	truth  = newTruth("heldsend")
)

var cache = struct {
	mu    sync.Mutex
	pages map[string]string
}{pages: map[string]string{"/": "<h1>Home</h1>"}}

// events carries cache notifications to an indexer that was never started.
var events = make(chan string, 8)

// store is one tenant's page store. mu is not its first field, so the
// mutex's address is not the store's.
type store struct {
	tenant string
	mu     sync.Mutex
	pages  map[string]string
}

// stores keeps the tenants' stores reachable. main fills it at run time,
// so the stores are on the heap (a composite literal here would be laid
// out statically, in the binary's data).
var stores []*store

// flushAcks would carry the CDN purger's acknowledgements; the purger was
// never started.
var flushAcks = make(chan struct{})

// flush marks the store's pages stale and waits for the purge to be
// acknowledged before unlocking: [chan receive], holding s.mu. It unlocks
// without defer, so no pending deferred Unlock shows it holds the lock.
func (s *store) flush(acks <-chan struct{}, holding chan<- struct{}) {
	truth.self("flush", "store.flush: holds s.mu (no deferred Unlock), waits on the global main.flushAcks (no sender, but reachable)",
		blocked, kindChanRecv, "main.flushAcks")
	s.mu.Lock()
	for path := range s.pages {
		s.pages[path] = "stale"
	}
	close(holding)
	parked.Done()
	<-acks
	s.mu.Unlock()
}

// lookup serves a page from the store: [sync.Mutex.Lock] on s.mu, held by
// flush.
func (s *store) lookup(path string) string {
	truth.self("lookup", "store.lookup: waits for s.mu (main.(*store).lookup), held by flush without a deferred Unlock",
		blocked, kindMutex, "main.(*store).mu", "flush")
	parked.Done()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pages[path]
}

// refreshPage rebuilds a page and announces it while still holding the
// cache lock. The send blocks (events is full), so the lock is never
// released.
func refreshPage(path string, holding chan<- struct{}) {
	truth.self("refreshPage", "refreshPage: holds main.cache.mu, sends on the full global main.events (no consumer, but reachable)",
		blocked, kindChanSend, "main.events")
	cache.mu.Lock()
	defer cache.mu.Unlock()
	cache.pages[path] = "<h1>" + path + "</h1>"
	close(holding)
	parked.Done()
	events <- "refreshed " + path
}

// handleRequest serves a page from the cache: [sync.Mutex.Lock].
func handleRequest(n int, path string) string {
	truth.self(fmt.Sprintf("request-%d", n),
		fmt.Sprintf("handleRequest #%d: waits for main.cache.mu, held by refreshPage", n),
		blocked, kindMutex, "main.cache.mu", "refreshPage")
	parked.Done()
	cache.mu.Lock()
	defer cache.mu.Unlock()
	return cache.pages[path]
}

func main() {
	stacks := stacksFlag()
	truthOut := truthFlag()
	flag.Parse()

	// Earlier refreshes filled the buffer.
	for i := 0; i < cap(events); i++ {
		events <- fmt.Sprintf("refreshed /archive/%d", i)
	}

	holding := make(chan struct{})
	parked.Add(1)
	go refreshPage("/news", holding)
	<-holding
	for i, path := range []string{"/", "/news", "/about"} {
		parked.Add(1)
		go handleRequest(i+1, path)
	}

	stores = append(stores, &store{tenant: "acme", pages: map[string]string{"/": "<h1>Acme</h1>"}})
	flushing := make(chan struct{})
	parked.Add(1)
	go stores[0].flush(flushAcks, flushing)
	<-flushing
	parked.Add(1)
	go stores[0].lookup("/")

	parked.Add(1) // main itself
	go dumpTruthAndStacks(truth, truthPath(*truthOut, *stacks), *stacks, &parked, nil)

	truth.self("main", "main: sleeps an hour at a time",
		live, kindSleep, "")
	parked.Done()
	for {
		time.Sleep(time.Hour)
	}
}
