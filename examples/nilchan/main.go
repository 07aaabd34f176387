// Command nilchan is a goroscope example of forgotten channel
// initialisations in a media service.
//
//   - The thumbnailer's constructor forgot to make its jobs channel. Its
//     worker ranges over the nil channel: [chan receive (nil chan)], which
//     nothing can ever wake. awaitIdle waits on the thumbnailer's WaitGroup
//     for that worker ([sync.WaitGroup.Wait]; [semacquire] before Go 1.24);
//     the worker is the only goroutine that would call Done, so it is
//     leaked too. The Thumbnailer lives on the heap and is referenced only
//     by the two stuck goroutines' stacks (Go's goroutineleak profile
//     reports both: Go 1.27, or Go 1.26 with
//     GOEXPERIMENT=goroutineleakprofile). Names: main.(*Thumbnailer).jobs
//     and main.(*Thumbnailer).done.
//   - The audit log's sink is a global whose initialisation was never
//     called: recordLogin sends on the nil main.auditLog.sink,
//     [chan send (nil chan)]. Leaked, global or not: a nil channel never
//     becomes ready.
//
// main ends sleeping an hour at a time (live), which also keeps the
// runtime's "all goroutines are asleep" check quiet.
//
// Protocol as in the other examples (dump.go, truth.go).
package main

import (
	"flag"
	"sync"
	"time"
)

var (
	parked sync.WaitGroup
	truth  = newTruth("nilchan")
)

// Thumbnailer resizes uploaded images on a background worker.
type Thumbnailer struct {
	jobs chan string // BUG: newThumbnailer never makes it
	done sync.WaitGroup
}

func newThumbnailer() *Thumbnailer {
	t := &Thumbnailer{} // should have been &Thumbnailer{jobs: make(chan string, 16)}
	t.done.Add(1)
	parked.Add(2)
	go t.work()
	go t.awaitIdle()
	return t
}

// work ranges over the nil jobs channel: blocks forever.
func (t *Thumbnailer) work() {
	defer t.done.Done()
	truth.self("worker", "Thumbnailer.work: ranges over the never-made main.(*Thumbnailer).jobs (nil)",
		leaked, kindNilChan, "main.(*Thumbnailer).jobs")
	parked.Done()
	for path := range t.jobs {
		_ = path
	}
}

// awaitIdle waits for the worker to finish, which it never does.
func (t *Thumbnailer) awaitIdle() {
	truth.self("awaitIdle", "Thumbnailer.awaitIdle: waits on main.(*Thumbnailer).done for the worker stuck on a nil channel",
		leaked, kindWaitGroup, "main.(*Thumbnailer).done", "worker")
	parked.Done()
	t.done.Wait()
}

// auditLog would be set up by initAuditLog, which main never calls.
var auditLog struct {
	sink chan string
}

func initAuditLog() { auditLog.sink = make(chan string, 128) }

// recordLogin sends on the nil sink: blocks forever.
func recordLogin(user string) {
	truth.self("recordLogin", "recordLogin: sends on main.auditLog.sink, which initAuditLog never made (nil)",
		leaked, kindNilChan, "main.auditLog.sink")
	parked.Done()
	auditLog.sink <- "login " + user
}

func main() {
	stacks := stacksFlag()
	truthOut := truthFlag()
	flag.Parse()

	newThumbnailer() // the result is dropped: only the two goroutines keep it
	// initAuditLog() -- forgotten
	parked.Add(1)
	go recordLogin("alice")

	parked.Add(1) // main itself
	go dumpTruthAndStacks(truth, truthPath(*truthOut, *stacks), *stacks, &parked, nil)

	truth.self("main", "main: sleeps an hour at a time",
		live, kindSleep, "")
	parked.Done()
	for {
		time.Sleep(time.Hour)
	}
}
