package main

// Stack-dump protocol shared by the goroscope examples. Each example is its
// own module, so this file is duplicated in cms/ and crash/ (keep them
// identical); many/ uses a variant suited to 100k goroutines.
//
//  1. Every goroutine that the example parks calls parked.Done() right
//     before its final blocking call.
//  2. A dedicated dumper goroutine (dumpStacksWhenSettled) waits for all of
//     them, then polls runtime.Stack(all) every 50ms until two consecutive
//     dumps agree and none of them is runnable/running (ignoring the dumper
//     itself and goroutines that never settle, such as a CPU-bound loop),
//     for at most ~3s.
//  3. It writes the last dump to PATH.tmp, renames it to PATH, prints
//     "ready pid=<pid>" on stdout and returns, so the dumper goroutine is
//     dead in every later core dump or live snapshot.

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

const (
	settlePoll = 50 * time.Millisecond
	settleCap  = 3 * time.Second
)

// stacksFlag registers -stacks; the default comes from $GOROSCOPE_STACKS,
// falling back to "stacks.txt". An empty value disables the stacks file.
func stacksFlag() *string {
	def := os.Getenv("GOROSCOPE_STACKS")
	if def == "" {
		def = "stacks.txt"
	}
	return flag.String("stacks", def,
		"where to write runtime.Stack(all) once every goroutine is parked (\"\" = don't write)")
}

// allStacks returns the runtime's dump of every goroutine, growing the
// buffer until the dump fits.
func allStacks() []byte {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// settledView drops the goroutines whose state may legitimately differ
// between two dumps: the first record (runtime.Stack lists the calling
// goroutine, i.e. the dumper, first) and every goroutine that has one of the
// unsettled functions on its stack.
func settledView(dump []byte, unsettled []string) []byte {
	var out [][]byte
	for i, g := range bytes.Split(dump, []byte("\n\n")) {
		if i == 0 {
			continue
		}
		skip := false
		for _, fn := range unsettled {
			if bytes.Contains(g, []byte("\n"+fn+"(")) {
				skip = true
				break
			}
		}
		if !skip {
			out = append(out, g)
		}
	}
	return bytes.Join(out, []byte("\n\n"))
}

// anyRunnable reports whether some goroutine in the dump is not parked yet
// (runnable, or running on another thread).
func anyRunnable(dump []byte) bool {
	return bytes.Contains(dump, []byte(" [runnable")) || bytes.Contains(dump, []byte(" [running"))
}

// beforeDump, when set, runs once the goroutines have settled, just before
// the stacks file is taken (the analysis examples write the runtime's
// goroutineleak profile there, so the dump shows the leaked states too).
var beforeDump func()

// dumpStacksWhenSettled is the dumper goroutine. It returns once the ready
// line has been printed.
func dumpStacksWhenSettled(path string, parked *sync.WaitGroup, unsettled []string) {
	parked.Wait()

	deadline := time.Now().Add(settleCap)
	prev := allStacks()
	var dump []byte
	for {
		time.Sleep(settlePoll)
		dump = allStacks()
		view := settledView(dump, unsettled)
		if bytes.Equal(settledView(prev, unsettled), view) && !anyRunnable(view) ||
			time.Now().After(deadline) {
			break
		}
		prev = dump
	}
	if beforeDump != nil {
		beforeDump()
		dump = allStacks()
	}

	if path != "" {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, dump, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "writing stacks:", err)
			os.Exit(1)
		}
		if err := os.Rename(tmp, path); err != nil {
			fmt.Fprintln(os.Stderr, "writing stacks:", err)
			os.Exit(1)
		}
	}
	// os.Stdout is unbuffered: this is a single write(2), even on a pipe.
	fmt.Fprintf(os.Stdout, "ready pid=%d\n", os.Getpid())
}
