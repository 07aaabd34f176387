// Command crash is a goroscope example that dies of an unrecovered panic in
// a non-main goroutine. Run it with GOTRACEBACK=crash and core dumps enabled
// (ulimit -c unlimited): the runtime prints every goroutine to stderr and
// then aborts with SIGABRT, leaving a core file.
//
// Sequence:
//  1. A few goroutines park (channel receive, mutex, sleep); main parks on a
//     channel receive.
//  2. The dumper goroutine writes runtime.Stack(all) to the -stacks file,
//     prints "ready pid=<pid>", closes `dumped` and returns.
//  3. The renderer goroutine, parked on `dumped` until then, waits for the
//     trigger: the file named by $GOROSCOPE_CRASH_TRIGGER appearing (polled
//     every 10ms) or, if that variable is unset, $GOROSCOPE_CRASH_DELAY_MS
//     milliseconds (default 500).
//  4. It panics three calls deep:
//     main.(*Renderer).Render -> main.renderPage -> main.mustTemplate.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

var parked sync.WaitGroup

// dumped is closed by the dumper once the ready line has been printed.
var dumped = make(chan struct{})

type Cache struct {
	mu    sync.Mutex
	pages map[string]string
	evict chan string
}

// evictLoop: [chan receive].
func (c *Cache) evictLoop() {
	parked.Done()
	for key := range c.evict {
		delete(c.pages, key)
	}
}

// holdForRebuild takes the cache lock and keeps it while waiting forever:
// [chan receive], holding c.mu.
func (c *Cache) holdForRebuild(holding chan<- struct{}, rebuilt <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	close(holding)
	parked.Done()
	<-rebuilt
}

// Lookup waits for the lock: [sync.Mutex.Lock].
func (c *Cache) Lookup(key string) string {
	parked.Done()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pages[key]
}

// refreshHourly: [sleep].
func refreshHourly(c *Cache) {
	parked.Done()
	for {
		time.Sleep(1 * time.Hour)
		c.evict <- "stale"
	}
}

type Renderer struct {
	templates map[string]string
}

// Render is the first of the three calls leading to the panic.
//
//go:noinline
func (r *Renderer) Render(page string) string {
	return renderPage(r.templates, page)
}

//go:noinline
func renderPage(templates map[string]string, page string) string {
	tmpl := mustTemplate(templates, page+".tmpl")
	return tmpl + page
}

// mustTemplate panics: the template was never registered.
//
//go:noinline
func mustTemplate(templates map[string]string, name string) string {
	t, ok := templates[name]
	if !ok {
		panic(fmt.Sprintf("renderer: template %q not found (have %d templates)", name, len(templates)))
	}
	return t
}

// renderOnTrigger is parked on `dumped` ([chan receive]) while the stacks
// file is written, then waits for the trigger and crashes.
func renderOnTrigger(r *Renderer) {
	parked.Done()
	<-dumped
	waitForTrigger()
	r.Render("article")
}

func waitForTrigger() {
	if path := os.Getenv("GOROSCOPE_CRASH_TRIGGER"); path != "" {
		for {
			if _, err := os.Stat(path); err == nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	delay := 500 * time.Millisecond
	if s := os.Getenv("GOROSCOPE_CRASH_DELAY_MS"); s != "" {
		ms, err := strconv.Atoi(s)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bad GOROSCOPE_CRASH_DELAY_MS:", err)
			os.Exit(2)
		}
		delay = time.Duration(ms) * time.Millisecond
	}
	time.Sleep(delay)
}

func main() {
	stacks := stacksFlag()
	flag.Parse()

	cache := &Cache{pages: map[string]string{"home": "<h1>hi</h1>"}, evict: make(chan string)}
	renderer := &Renderer{templates: map[string]string{"home.tmpl": "{{.}}"}}
	holding := make(chan struct{})
	rebuilt := make(chan struct{})
	shutdown := make(chan struct{})

	parked.Add(2)
	go cache.evictLoop()
	go cache.holdForRebuild(holding, rebuilt)
	<-holding
	parked.Add(3)
	go cache.Lookup("home")
	go refreshHourly(cache)
	go renderOnTrigger(renderer)

	parked.Add(1) // main itself
	go func() {
		dumpStacksWhenSettled(*stacks, &parked, nil)
		close(dumped)
	}()

	// main parks for good: [chan receive].
	parked.Done()
	<-shutdown
}
