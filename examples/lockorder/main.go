// Command lockorder is a goroscope example of a lock-order inversion in a
// pretend accounts service, plus everything that piles up behind it.
//
//	transfer   holds main.accounts.mu, waits for main.ledger.mu   } a wait-for
//	reconcile  holds main.ledger.mu,   waits for main.accounts.mu } cycle
//	monthlyStatement  waits for main.accounts.mu (held by transfer)
//	refreshPrices     read-holds main.catalog.rw, waits for main.ledger.mu
//	                  (held by reconcile)
//	publishCatalog    wants main.catalog.rw for writing (read-held by
//	                  refreshPrices)
//	quote             wants main.catalog.rw for reading; queued behind the
//	                  pending writer publishCatalog
//	main              waits on main.transfers, which only transfer and
//	                  reconcile would mark Done
//	flushMetrics      sleeps an hour at a time (keeps the runtime's
//	                  "all goroutines are asleep" check quiet)
//
// transfer and reconcile are deadlocked. Everything that waits, directly or
// through a chain, on one of them is leaked: the only goroutines that could
// release what it waits for are stuck forever. The mutexes are globals, so
// a reachability-based detector (Go's goroutine leak profile) reports none
// of this; finding it takes the wait-for graph. Every holder takes its lock
// with a deferred unlock, as real code does, so the holder shows up as a
// pending defer in its frame.
//
// Protocol as in the other examples (dump.go, truth.go): once everything is
// parked the dumper writes the truth file and runtime.Stack(all) to -stacks,
// prints "ready pid=<pid>" and returns.
package main

import (
	"flag"
	"sync"
	"time"
)

var (
	parked sync.WaitGroup
	truth  = newTruth("lockorder")
)

// The service's state, each part under its own lock.
var accounts = struct {
	mu       sync.Mutex
	balances map[string]int
}{balances: map[string]int{"alice": 100, "bob": 50}}

var ledger = struct {
	mu      sync.Mutex
	entries []string
}{}

var catalog = struct {
	rw     sync.RWMutex
	prices map[string]int
}{prices: map[string]int{"premium": 12}}

// transfers counts the running transfer and reconcile jobs; main waits for
// them.
var transfers sync.WaitGroup

// firstLocks is the rendezvous that makes the inversion deterministic:
// transfer and reconcile each take their first lock, then wait here until
// both hold one, and only then ask for the second.
var firstLocks sync.WaitGroup

// transfer moves money: accounts first, then the ledger.
func transfer(from, to string, amount int) {
	defer transfers.Done()
	truth.self("transfer", "transfer: holds main.accounts.mu, waits for main.ledger.mu (held by reconcile)",
		deadlocked, kindMutex, "main.ledger.mu", "reconcile")
	accounts.mu.Lock()
	defer accounts.mu.Unlock()
	accounts.balances[from] -= amount
	accounts.balances[to] += amount
	firstLocks.Done()
	firstLocks.Wait()
	parked.Done()
	ledger.mu.Lock() // held by reconcile, which waits for accounts.mu
	defer ledger.mu.Unlock()
	ledger.entries = append(ledger.entries, from+"->"+to)
}

// reconcile checks the ledger against the balances: ledger first, then
// accounts -- the opposite order.
func reconcile() {
	defer transfers.Done()
	truth.self("reconcile", "reconcile: holds main.ledger.mu, waits for main.accounts.mu (held by transfer)",
		deadlocked, kindMutex, "main.accounts.mu", "transfer")
	ledger.mu.Lock()
	defer ledger.mu.Unlock()
	n := len(ledger.entries)
	firstLocks.Done()
	firstLocks.Wait()
	parked.Done()
	accounts.mu.Lock() // held by transfer, which waits for ledger.mu
	defer accounts.mu.Unlock()
	_ = n + len(accounts.balances)
}

// monthlyStatement only wants accounts.mu, but transfer holds it forever.
func monthlyStatement(customer string) int {
	truth.self("statement", "monthlyStatement: waits for main.accounts.mu, held by the deadlocked transfer",
		leaked, kindMutex, "main.accounts.mu", "transfer")
	parked.Done()
	accounts.mu.Lock()
	defer accounts.mu.Unlock()
	return accounts.balances[customer]
}

// refreshPrices read-locks the catalog, then wants the ledger, which the
// deadlocked reconcile holds: it keeps its read lock forever.
func refreshPrices(readHeld chan<- struct{}) {
	truth.self("refreshPrices", "refreshPrices: read-holds main.catalog.rw, waits for main.ledger.mu, held by the deadlocked reconcile",
		leaked, kindMutex, "main.ledger.mu", "reconcile")
	catalog.rw.RLock()
	defer catalog.rw.RUnlock()
	close(readHeld)
	parked.Done()
	ledger.mu.Lock()
	defer ledger.mu.Unlock()
	catalog.prices["premium"] = len(ledger.entries)
}

// publishCatalog wants the catalog for writing; refreshPrices never drops
// its read lock.
func publishCatalog() {
	truth.self("publishCatalog", "publishCatalog: wants main.catalog.rw for writing, read-held by the leaked refreshPrices",
		leaked, kindRWMutexWrite, "main.catalog.rw", "refreshPrices")
	parked.Done()
	catalog.rw.Lock()
	defer catalog.rw.Unlock()
	catalog.prices["premium"]++
}

// quote wants a read lock. The lock is only read-held, but a writer
// (publishCatalog) is pending, and new readers queue behind it.
func quote(product string) int {
	truth.self("quote", "quote: wants main.catalog.rw for reading, queued behind the pending writer publishCatalog; read-held by refreshPrices",
		leaked, kindRWMutexRead, "main.catalog.rw", "refreshPrices")
	parked.Done()
	catalog.rw.RLock()
	defer catalog.rw.RUnlock()
	return catalog.prices[product]
}

// flushMetrics sleeps an hour at a time. Its timer keeps the runtime from
// declaring "all goroutines are asleep".
func flushMetrics() {
	truth.self("flushMetrics", "flushMetrics: sleeps an hour between flushes",
		live, kindSleep, "")
	parked.Done()
	for {
		time.Sleep(time.Hour)
	}
}

func main() {
	stacks := stacksFlag()
	truthOut := truthFlag()
	flag.Parse()

	truth.cycle("transfer", "reconcile")
	// Every lock and the WaitGroup here are globals, reachable from the
	// data segment: GC reachability (the runtime's goroutineleak profile)
	// cannot condemn their waiters. The pending deferred Unlocks and Done
	// of the deadlocked pair do.
	truth.beyondRuntime("waits on a global lock held, per its pending deferred Unlock, by a goroutine in a lock-order cycle",
		"transfer", "reconcile")
	truth.beyondRuntime("waits on a global lock whose holder can never run again",
		"statement", "refreshPrices", "publishCatalog", "quote")
	truth.beyondRuntime("waits on the global WaitGroup main.transfers, whose pending Done calls are deferred by the deadlocked pair",
		"main")

	parked.Add(1)
	go flushMetrics()

	// The inversion: both jobs hold their first lock before either asks
	// for its second.
	firstLocks.Add(2)
	transfers.Add(2)
	parked.Add(2)
	go transfer("alice", "bob", 30)
	go reconcile()
	firstLocks.Wait()

	parked.Add(1)
	go monthlyStatement("alice")

	// The RWMutex chain: a reader holding catalog.rw gets stuck behind the
	// cycle, then a writer queues for catalog.rw, then a reader behind it.
	readHeld := make(chan struct{})
	parked.Add(1)
	go refreshPrices(readHeld)
	<-readHeld
	parked.Add(1)
	go publishCatalog()
	for catalog.rw.TryRLock() { // fails once the writer is pending
		catalog.rw.RUnlock()
		time.Sleep(time.Millisecond)
	}
	parked.Add(1)
	go quote("premium")

	parked.Add(1) // main itself
	go dumpTruthAndStacks(truth, truthPath(*truthOut, *stacks), *stacks, &parked, nil)

	truth.self("main", "main: waits for main.transfers, which only the deadlocked transfer and reconcile would mark Done",
		leaked, kindWaitGroup, "main.transfers", "transfer", "reconcile")
	parked.Done()
	transfers.Wait()
}
