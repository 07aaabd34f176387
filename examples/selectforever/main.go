// Command selectforever is a goroscope example of goroutines parked in
// select statements that can never proceed, in a session service.
//
//   - keepAlive ends in `select {}`: [select (no cases)]. Nothing can ever
//     wake it: leaked. (It is not main: Go 1.27's goroutineleak profile
//     deliberately leaves goroutine 1 in `select {}` unreported, as that
//     is a common way to park main.)
//   - watchConfig makes its reload and stop channels itself and selects on
//     them; the code that was meant to hand them out never did, so only its
//     own stack refers to them: [select], leaked. Name (the case channels,
//     in source order, ", "-separated): main.watchConfig.reload,
//     main.watchConfig.stop.
//   - reapSessions selects on the package-level main.expired and main.quit:
//     [select]. Nobody sends, but the channels are reachable, so it is only
//     blocked.
//   - main receives from the package-level main.shutdown: [chan receive],
//     blocked for the same reason.
//   - heartbeat sleeps an hour at a time (live); its timer keeps the
//     runtime's "all goroutines are asleep" check quiet.
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
	truth  = newTruth("selectforever")
)

var (
	shutdown = make(chan struct{})
	expired  = make(chan string)
	quit     = make(chan struct{})
)

// keepAlive parks forever: [select (no cases)].
func keepAlive() {
	truth.self("keepAlive", "keepAlive: select {} -- can never be woken",
		leaked, kindSelectNoCases, "")
	parked.Done()
	select {}
}

// watchConfig waits for config reloads on channels nobody else has.
func watchConfig() {
	reload := make(chan string) // BUG: never published for the admin API
	stop := make(chan struct{})
	truth.self("watchConfig", "watchConfig: selects on its own main.watchConfig.reload and main.watchConfig.stop; no one else can reach them",
		leaked, kindSelect, "main.watchConfig.reload, main.watchConfig.stop")
	parked.Done()
	for {
		select {
		case path := <-reload:
			_ = path
		case <-stop:
			return
		}
	}
}

// reapSessions waits for expiry notices or quit, both globals: [select].
func reapSessions() {
	truth.self("reapSessions", "reapSessions: selects on the global main.expired and main.quit; nobody sends, but they are reachable",
		blocked, kindSelect, "main.expired, main.quit")
	parked.Done()
	for {
		select {
		case id := <-expired:
			_ = id
		case <-quit:
			return
		}
	}
}

// heartbeat sleeps an hour at a time: [sleep].
func heartbeat() {
	truth.self("heartbeat", "heartbeat: sleeps an hour at a time",
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

	parked.Add(4)
	go keepAlive()
	go watchConfig()
	go reapSessions()
	go heartbeat()

	parked.Add(1) // main itself
	go dumpTruthAndStacks(truth, truthPath(*truthOut, *stacks), *stacks, &parked, nil)

	truth.self("main", "main: receives from the global main.shutdown; nobody sends, but it is reachable",
		blocked, kindChanRecv, "main.shutdown")
	parked.Done()
	<-shutdown
}
