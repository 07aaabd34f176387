// Command many is a goroscope benchmark program: it parks -n goroutines
// (default 1000; 100000 starts in well under a second) in a fixed mix of
// wait states, each below a recursion 3..22 frames deep:
//
//	30% chan receive       [chan receive]
//	20% sync.Mutex.Lock    [sync.Mutex.Lock]
//	15% select             [select]
//	15% sync.WaitGroup     [sync.WaitGroup.Wait] (Go <= 1.23: [semacquire])
//	10% time.Sleep(1h)     [sleep]
//	10% sync.Cond.Wait     [sync.Cond.Wait]
//
// main holds every mutex the workers want and ends parked in time.Sleep, so
// the process never trips the "all goroutines are asleep" detector, whatever
// -n is.
//
// Protocol as in the other examples: once everything is parked, a dumper
// goroutine writes runtime.Stack(all) to -stacks (skipped when -stacks is
// ""), prints "ready pid=<pid>" and returns.
package main

import (
	"flag"
	"fmt"
	"os"
	"sync"
	"time"
)

type kind uint8

const (
	chanRecv kind = iota
	mutexLock
	selectWait
	waitGroupWait
	sleepWait
	condWait
)

// pattern assigns kinds by i%20, interleaved so that even small -n values
// get every kind early: 6x chanRecv (30%), 4x mutexLock (20%), 3x select
// (15%), 3x WaitGroup (15%), 2x sleep (10%), 2x cond (10%).
var pattern = [20]kind{
	chanRecv, mutexLock, selectWait, waitGroupWait, sleepWait, condWait,
	chanRecv, mutexLock, selectWait, waitGroupWait, chanRecv, sleepWait,
	condWait, chanRecv, mutexLock, selectWait, waitGroupWait, chanRecv,
	mutexLock, chanRecv,
}

func kindOf(i int) kind { return pattern[i%len(pattern)] }

// depthOf gives the number of main.descend frames above the parking
// function: 3..22, varying with i and decorrelated from the kind.
func depthOf(i int) int { return 3 + (i+i/len(pattern))%20 }

const shards = 16

var (
	parked sync.WaitGroup

	inboxes [shards]chan int    // nothing is ever sent
	locks   [shards]sync.Mutex  // held by main forever
	selA    [shards]chan int    // select operands, never ready
	selB    [shards]chan string //
	barrier sync.WaitGroup      // Add(1) in main, never Done
	conds   [shards]*sync.Cond  // never signalled
	condMus [shards]sync.Mutex  // the conds' lockers
	ready   [shards]bool        // guarded by condMus
)

// worker is the goroutine entry point.
func worker(i int) {
	descend(i, depthOf(i))
}

// descend recurses depth times, then parks.
func descend(i, depth int) int {
	if depth <= 1 {
		park(i)
		return 0
	}
	return descend(i, depth-1) + 1
}

//go:noinline
func park(i int) {
	s := i % shards
	switch kindOf(i) {
	case chanRecv:
		blockOnChan(inboxes[s])
	case mutexLock:
		blockOnMutex(&locks[s])
	case selectWait:
		blockInSelect(selA[s], selB[s])
	case waitGroupWait:
		blockOnWaitGroup(&barrier)
	case sleepWait:
		blockInSleep()
	case condWait:
		blockOnCond(s)
	}
}

//go:noinline
func blockOnChan(ch chan int) int {
	parked.Done()
	return <-ch
}

//go:noinline
func blockOnMutex(mu *sync.Mutex) {
	parked.Done()
	mu.Lock()
	mu.Unlock()
}

//go:noinline
func blockInSelect(a chan int, b chan string) {
	parked.Done()
	select {
	case <-a:
	case <-b:
	}
}

//go:noinline
func blockOnWaitGroup(wg *sync.WaitGroup) {
	parked.Done()
	wg.Wait()
}

//go:noinline
func blockInSleep() {
	parked.Done()
	time.Sleep(1 * time.Hour)
}

//go:noinline
func blockOnCond(s int) {
	condMus[s].Lock()
	parked.Done()
	for !ready[s] {
		conds[s].Wait()
	}
	condMus[s].Unlock()
}

func main() {
	n := flag.Int("n", 1000, "number of parked goroutines")
	stacks := stacksFlag()
	flag.Parse()
	if *n < 0 {
		fmt.Fprintln(os.Stderr, "-n must be >= 0")
		os.Exit(2)
	}

	for s := 0; s < shards; s++ {
		inboxes[s] = make(chan int)
		selA[s] = make(chan int)
		selB[s] = make(chan string)
		conds[s] = sync.NewCond(&condMus[s])
		locks[s].Lock()
	}
	barrier.Add(1)

	parked.Add(*n)
	for i := 0; i < *n; i++ {
		go worker(i)
	}

	go dumpWhenSettled(*stacks, &parked)

	// main parks for good: [sleep]. (A sleeping goroutine keeps the
	// runtime's deadlock detector quiet even when -n is tiny.)
	for {
		time.Sleep(1<<63 - 1)
	}
}
