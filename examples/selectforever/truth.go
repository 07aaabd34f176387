package main

// Ground truth for goroscope's blocking-chain, deadlock and leak analysis.
// Each example is its own module, so this file is duplicated in every
// example that writes a truth file (lockorder, pipeline, nilchan, condwait,
// heldsend, selectforever, healthy); keep the copies identical.
//
// Every goroutine the example parks calls truth.self(...) on itself before
// it blocks (healthy's net/http goroutines do so from hooks that net/http
// runs on them): that records the goroutine's id (parsed from the first
// line of runtime.Stack(buf, false)) with its role and the verdict it should
// get. Holders and cycles are given by key and resolved to ids when the file
// is written. The dumper writes the file (PATH.tmp, then rename) after every
// goroutine has called parked.Done() and before it prints the ready line:
//
//	{"example": "lockorder",
//	 "goroutines": [{"id": 7, "role": "...", "expect": "deadlocked",
//	                 "waits_on": {"kind": "mutex", "name": "main.ledger.mu"},
//	                 "holders": [9]}, ...],
//	 "cycles": [[7, 9]],
//	 "global_deadlock": false}
//
// The truth log holds only strings and ids, never the objects waited on, so
// it keeps nothing reachable that the example wants unreachable.

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Verdicts.
const (
	deadlocked = "deadlocked" // in a wait-for cycle
	leaked     = "leaked"     // nothing that could wake it is live or reachable
	blocked    = "blocked"    // blocked, but a live goroutine could wake it
	live       = "live"       // running, or waiting for a timer or I/O
)

// Wait kinds (waits_on.kind).
const (
	kindChanRecv      = "chan receive"
	kindChanSend      = "chan send"
	kindSelect        = "select"
	kindNilChan       = "nil chan"
	kindSelectNoCases = "select (no cases)"
	kindMutex         = "mutex"
	kindRWMutexRead   = "rwmutex read"
	kindRWMutexWrite  = "rwmutex write"
	kindWaitGroup     = "waitgroup"
	kindCond          = "cond"
	kindSleep         = "sleep"
	kindIO            = "io"
)

type truthWait struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

type truthGoroutine struct {
	ID      int64     `json:"id"`
	Role    string    `json:"role"`
	Expect  string    `json:"expect"`
	WaitsOn truthWait `json:"waits_on"`
	Holders []int64   `json:"holders"`
	// Why the runtime's goroutineleak profile cannot see that this
	// goroutine is stuck, when goroscope can (see beyondRuntime).
	BeyondRuntime string `json:"beyond_runtime,omitempty"`
	// For a goroutine in IO wait: the socket, as the program sees it.
	Socket *truthSocket `json:"socket,omitempty"`

	key        string
	holderKeys []string
}

// truthSocket is the fd an IO wait is on, in the program's own words:
// op is "read", "write" or "accept"; local and remote are net.Addr
// strings (remote "" for a listener).
type truthSocket struct {
	Op      string `json:"op"`
	Network string `json:"network"`
	Local   string `json:"local"`
	Remote  string `json:"remote,omitempty"`
}

type truthFile struct {
	Example        string           `json:"example"`
	Goroutines     []truthGoroutine `json:"goroutines"`
	Cycles         [][]int64        `json:"cycles"`
	GlobalDeadlock bool             `json:"global_deadlock"`
}

type truthLog struct {
	mu         sync.Mutex
	example    string
	goroutines []truthGoroutine
	ids        map[string]int64
	cycles     [][]string
	beyond     [][2]string
	sockets    []keyedSocket
}

func newTruth(example string) *truthLog {
	return &truthLog{example: example, ids: map[string]int64{}}
}

// goid returns the calling goroutine's id.
func goid() int64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false) // "goroutine 7 [running]:\n..."
	f := strings.Fields(string(buf[:n]))
	if len(f) < 2 || f[0] != "goroutine" {
		panic("goid: unexpected runtime.Stack header: " + string(buf[:n]))
	}
	id, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		panic("goid: " + err.Error())
	}
	return id
}

// self records the calling goroutine under key and returns its id. holders
// are keys of goroutines that hold the lock it waits for (or, for channels,
// wait groups and conds, could wake it); they are resolved when the file is
// written. name is "" when there is no object (sleep, select {}).
func (t *truthLog) self(key, role, expect, kind, name string, holders ...string) int64 {
	id := goid()
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, dup := t.ids[key]; dup {
		panic("truth: duplicate key " + key)
	}
	t.ids[key] = id
	t.goroutines = append(t.goroutines, truthGoroutine{
		ID: id, Role: role, Expect: expect,
		WaitsOn: truthWait{Kind: kind, Name: name},
		key:     key, holderKeys: holders,
	})
	return id
}

// socket records the socket goroutine key waits on in IO wait. The key
// may be recorded later; it is resolved when the file is written.
func (t *truthLog) socket(key, op, network, local, remote string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sockets = append(t.sockets, keyedSocket{key, truthSocket{op, network, local, remote}})
}

type keyedSocket struct {
	key string
	s   truthSocket
}

// beyondRuntime records why the runtime's goroutineleak profile cannot call
// goroutine key leaked although it is stuck: what it waits on is reachable
// (from a global, say), and only evidence the GC does not use, such as
// pending deferred Unlocks in goroutines that can never run again, condemns
// it. The keys may be recorded later; they are resolved when the file is
// written.
func (t *truthLog) beyondRuntime(why string, keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		t.beyond = append(t.beyond, [2]string{k, why})
	}
}

// cycle records a wait-for cycle: keys[0] waits for keys[1], ..., and the
// last one waits for keys[0].
func (t *truthLog) cycle(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cycles = append(t.cycles, keys)
}

func (t *truthLog) resolve(key string) int64 {
	id, ok := t.ids[key]
	if !ok {
		fmt.Fprintf(os.Stderr, "truth: no goroutine registered as %q\n", key)
		os.Exit(1)
	}
	return id
}

// file builds the JSON document: goroutines sorted by id, holders sorted,
// each cycle rotated to start at its smallest id (order kept).
func (t *truthLog) file() truthFile {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := truthFile{Example: t.example, Goroutines: []truthGoroutine{}, Cycles: [][]int64{}}
	for _, g := range t.goroutines {
		g.Holders = []int64{}
		for _, k := range g.holderKeys {
			g.Holders = append(g.Holders, t.resolve(k))
		}
		sort.Slice(g.Holders, func(i, j int) bool { return g.Holders[i] < g.Holders[j] })
		for _, b := range t.beyond {
			if b[0] == g.key {
				g.BeyondRuntime = b[1]
			}
		}
		for _, s := range t.sockets {
			if s.key == g.key {
				sock := s.s
				g.Socket = &sock
			}
		}
		f.Goroutines = append(f.Goroutines, g)
	}
	sort.Slice(f.Goroutines, func(i, j int) bool { return f.Goroutines[i].ID < f.Goroutines[j].ID })
	for _, keys := range t.cycles {
		c := make([]int64, len(keys))
		lo := 0
		for i, k := range keys {
			c[i] = t.resolve(k)
			if c[i] < c[lo] {
				lo = i
			}
		}
		f.Cycles = append(f.Cycles, append(c[lo:], c[:lo]...))
	}
	return f
}

// marshal renders the document with one goroutine per line.
func (f truthFile) marshal() ([]byte, error) {
	var b strings.Builder
	field := func(name string, v any, last bool) error {
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		sep := ","
		if last {
			sep = ""
		}
		fmt.Fprintf(&b, "  %q: %s%s\n", name, data, sep)
		return nil
	}
	b.WriteString("{\n")
	if err := field("example", f.Example, false); err != nil {
		return nil, err
	}
	b.WriteString("  \"goroutines\": [\n")
	for i, g := range f.Goroutines {
		data, err := json.Marshal(g)
		if err != nil {
			return nil, err
		}
		sep := ","
		if i == len(f.Goroutines)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "    %s%s\n", data, sep)
	}
	b.WriteString("  ],\n")
	if err := field("cycles", f.Cycles, false); err != nil {
		return nil, err
	}
	if err := field("global_deadlock", f.GlobalDeadlock, true); err != nil {
		return nil, err
	}
	b.WriteString("}\n")
	return []byte(b.String()), nil
}

// write stores the truth file atomically (PATH.tmp, then rename).
func (t *truthLog) write(path string) error {
	data, err := t.file().marshal()
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// truthFlag registers -truth. Its value wins when given (even ""); else
// $GOROSCOPE_TRUTH; else the stacks path with ".truth.json" appended; with
// no stacks file either, no truth file is written. Call truthPath after
// flag.Parse.
func truthFlag() *string {
	return flag.String("truth", "",
		"where to write the ground-truth JSON (default $GOROSCOPE_TRUTH, else STACKS.truth.json; \"\" = don't write)")
}

func truthPath(flagValue, stacks string) string {
	set := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == "truth" {
			set = true
		}
	})
	switch {
	case set:
		return flagValue
	case os.Getenv("GOROSCOPE_TRUTH") != "":
		return os.Getenv("GOROSCOPE_TRUTH")
	case stacks != "":
		return stacks + ".truth.json"
	}
	return ""
}

// dumpTruthAndStacks is the dumper goroutine: once every goroutine has
// registered itself and called parked.Done(), it writes the truth file, then
// runs the shared protocol of dump.go (settle, write the stacks file, print
// "ready pid=N", return).
func dumpTruthAndStacks(t *truthLog, truthOut, stacks string, parked *sync.WaitGroup, unsettled []string) {
	parked.Wait()
	if truthOut != "" {
		if err := t.write(truthOut); err != nil {
			fmt.Fprintln(os.Stderr, "writing truth:", err)
			os.Exit(1)
		}
	}
	if stacks != "" {
		beforeDump = func() { writeLeakProfile(stacks + ".leaks") }
	}
	dumpStacksWhenSettled(stacks, parked, unsettled)
}

// writeLeakProfile writes the runtime's own goroutineleak profile (Go 1.27,
// or Go 1.26 built with GOEXPERIMENT=goroutineleakprofile; elsewhere the
// profile does not exist and nothing is written) at debug=2: every
// goroutine's stack as runtime.Stack prints it, after a leak-detecting GC,
// so the leaked ones read "[chan send (leaked)]". The test compares
// goroscope's verdicts with it.
func writeLeakProfile(path string) {
	p := pprof.Lookup("goroutineleak")
	if p == nil {
		return
	}
	var buf bytes.Buffer
	if err := p.WriteTo(&buf, 2); err != nil {
		fmt.Fprintln(os.Stderr, "goroutineleak profile:", err)
		os.Exit(1)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "writing leak profile:", err)
		os.Exit(1)
	}
	if err := os.Rename(tmp, path); err != nil {
		fmt.Fprintln(os.Stderr, "writing leak profile:", err)
		os.Exit(1)
	}
}
