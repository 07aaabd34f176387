// Command cgo is a goroscope example built with cgo (CGO_ENABLED=1): some
// goroutines block inside C functions, one is parked in Go code that C
// called back into, C owns a thread of its own, and the rest are parked in
// plain Go wait states.
//
// Once everything is parked, a dumper goroutine writes runtime.Stack(all) to
// the -stacks file and prints "ready pid=<pid>"; the process then idles
// until killed. See dump.go and ../README.md.
package main

/*
#include "native.h"
*/
import "C"

import (
	"flag"
	"fmt"
	"os"
	"sync"
	"time"
)

// parked counts goroutines that have not yet reached their final blocking
// call. Every goroutine calls parked.Done() immediately before it.
var parked sync.WaitGroup

// ---------------------------------------------------------------------------
// Blocked in C.

// DeviceReader reads a pipe nobody writes to, from C.
type DeviceReader struct {
	r, w *os.File
}

// device is global so that the pipe's write end stays open (no EOF).
var device *DeviceReader

// readLoop blocks in C's read(2): [syscall].
func (d *DeviceReader) readLoop() {
	fd := C.int(d.r.Fd())
	parked.Done()
	n := C.device_read(fd)
	fmt.Fprintln(os.Stderr, "device_read returned", n)
}

// Compressor sleeps in C for good.
type Compressor struct{ level int }

// run blocks in C's sleep(3): [syscall].
func (c *Compressor) run() {
	parked.Done()
	C.compress_forever()
}

// ---------------------------------------------------------------------------
// Go called from C: Plugin.invoke -> C plugin_dispatch -> goPluginEvent
// (exported, callback.go) -> Plugin.onEvent, parked on a channel with the
// goroutine locked to its thread for the callback:
// [chan receive, locked to thread].

type Plugin struct {
	name   string
	events chan int
}

var plugin = &Plugin{name: "thumbnailer", events: make(chan int)}

func (p *Plugin) invoke() {
	C.plugin_dispatch(7)
}

//go:noinline
func (p *Plugin) onEvent(event int) {
	parked.Done()
	for e := range p.events {
		_ = e + event
	}
}

// ---------------------------------------------------------------------------
// Parked in Go.

// JobQueue.consume: [chan receive].
type JobQueue struct{ jobs chan string }

func (q *JobQueue) consume() {
	parked.Done()
	for j := range q.jobs {
		_ = j
	}
}

// Registry.reload holds the lock while it waits on a channel; Lookup waits
// for the lock: [sync.Mutex.Lock].
type Registry struct {
	mu       sync.Mutex
	entries  map[string]string
	reloaded chan struct{}
}

func (r *Registry) reload(holding chan<- struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	close(holding)
	parked.Done()
	<-r.reloaded
}

func (r *Registry) Lookup(key string) string {
	parked.Done()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.entries[key]
}

// pollHourly: [sleep].
func pollHourly() {
	parked.Done()
	for {
		time.Sleep(time.Hour)
	}
}

// waitEither: [select].
func waitEither(a <-chan int, b <-chan string) {
	parked.Done()
	select {
	case <-a:
	case <-b:
	}
}

func main() {
	stacks := stacksFlag()
	flag.Parse()

	if err := C.start_c_watchdog(); err != 0 {
		fmt.Fprintln(os.Stderr, "pthread_create:", err)
		os.Exit(1)
	}

	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pipe:", err)
		os.Exit(1)
	}
	device = &DeviceReader{r: r, w: w}

	parked.Add(3)
	go device.readLoop()
	go (&Compressor{level: 9}).run()
	go plugin.invoke()

	queue := &JobQueue{jobs: make(chan string)}
	registry := &Registry{entries: map[string]string{"a": "b"}, reloaded: make(chan struct{})}
	holding := make(chan struct{})
	parked.Add(2)
	go queue.consume()
	go registry.reload(holding)
	<-holding
	parked.Add(3)
	go registry.Lookup("a")
	go pollHourly()
	go waitEither(make(chan int), make(chan string))

	shutdown := make(chan struct{})
	parked.Add(1) // main itself
	go dumpStacksWhenSettled(*stacks, &parked, nil)

	// main parks for good: [chan receive].
	parked.Done()
	<-shutdown
}
