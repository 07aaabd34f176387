package main

// Stack-dump protocol, as in the other goroscope examples, adapted to very
// large goroutine counts. Instead of comparing two text dumps 50ms apart
// (hundreds of MB each at 100k goroutines), the dumper takes
// runtime.GoroutineProfile snapshots (PCs only) until one shows every other
// goroutine stopped in runtime.gopark: a parked goroutine cannot change
// state again, since nothing here ever wakes one. The text dump is taken
// once, at the end, and only if a stacks path is set.

import (
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
// falling back to "stacks.txt". -stacks "" skips the stacks file.
func stacksFlag() *string {
	def := os.Getenv("GOROSCOPE_STACKS")
	if def == "" {
		def = "stacks.txt"
	}
	return flag.String("stacks", def,
		"where to write runtime.Stack(all) once every goroutine is parked (\"\" = don't write)")
}

// dumpWhenSettled is the dumper goroutine. It waits until every worker has
// signalled, then polls every 50ms (for at most 3s) until all goroutines but
// itself are parked, writes the stacks file, prints the ready line and
// returns.
func dumpWhenSettled(path string, parked *sync.WaitGroup) {
	parked.Wait()

	deadline := time.Now().Add(settleCap)
	for !allParked(goroutineProfile()) && time.Now().Before(deadline) {
		time.Sleep(settlePoll)
	}

	if path != "" {
		dump := allStacks()
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

func goroutineProfile() []runtime.StackRecord {
	recs := make([]runtime.StackRecord, runtime.NumGoroutine()+64)
	for {
		n, ok := runtime.GoroutineProfile(recs)
		if ok {
			return recs[:n]
		}
		recs = make([]runtime.StackRecord, n+n/4+64)
	}
}

// allParked reports whether every goroutine in the profile except the first
// (the profile lists the calling goroutine, i.e. the dumper, first) has
// runtime.gopark as its innermost frame.
func allParked(recs []runtime.StackRecord) bool {
	for i := 1; i < len(recs); i++ {
		frames := runtime.CallersFrames(recs[i].Stack())
		f, _ := frames.Next()
		if f.Function != "runtime.gopark" {
			return false
		}
	}
	return true
}

// allStacks returns the runtime's dump of every goroutine, growing the
// buffer until the dump fits.
func allStacks() []byte {
	size := 1 << 20
	if g := runtime.NumGoroutine(); g > 512 {
		size = g * 2048
	}
	for {
		buf := make([]byte, size)
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		size *= 2
	}
}
