// Command values is a goroscope example for debugger value printers: package
// variables holding big maps (10 000 entries: several swiss tables from
// go1.24, many classic buckets and overflow buckets before), a map with
// deleted entries, slices, strings, nested structs, a time.Time and a
// context chain. Before it idles it writes each variable as fmt prints it
// (%v, maps sorted by key) to PATH.values, one "name<TAB>value" line each,
// then the runtime's own stack dump to PATH (-stacks), and prints
// "ready pid=N".
//
// It is not one of the matrix examples (tests/e2e/conftest.py OWN_TESTS):
// tests/e2e/test_gdb.py runs it and compares gdb's printing with the file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// Limits is a nested struct with a map and a slice.
type Limits struct {
	CPU    int
	Memory int64
	Labels map[string]string
}

// Service is a nested struct: strings, a slice, a struct, a slice of structs.
type Service struct {
	Name    string
	Ports   []int
	Enabled bool
	Limits  Limits
	Deps    []Dep
}

// Dep is an element of Service.Deps.
type Dep struct {
	Name     string
	Optional bool
}

var (
	big      map[int]int
	names    map[string]int
	sparse   map[int]string
	small    = map[string]int{"one": 1}
	empty    = map[string]int{}
	nilMap   map[string]int
	words        = []string{"alpha", "beta", "gamma"}
	greeting     = "hello, world"
	anyInt   any = 42
	anyText  any = "text"
	anyDep   any = Dep{Name: "db"}
	anyPtr   any = &Dep{Name: "cache", Optional: true}
	anyNil   any
	err      = errors.New("boom")
	nilErr   error
	timeout  = 90 * time.Second
	tick     = 1500 * time.Millisecond
	longest  = 26*time.Hour + 3*time.Minute + 4*time.Second + 5*time.Millisecond
	jobs     = make(chan int, 4)
	closedCh = make(chan string, 2)
	nilCh    chan int
	started  = time.Date(2024, 3, 15, 10, 30, 0, 250, time.UTC)
	ctx      context.Context
	stop     context.CancelFunc
	service  = Service{
		Name:    "billing",
		Ports:   []int{80, 443, 8080},
		Enabled: true,
		Limits:  Limits{CPU: 2, Memory: 1 << 30, Labels: map[string]string{"team": "payments", "tier": "gold"}},
		Deps:    []Dep{{Name: "db", Optional: false}, {Name: "cache", Optional: true}},
	}
)

// ctxKey is the key type of ctx's value.
type ctxKey string

func build() {
	ctx, stop = context.WithCancel(context.WithValue(context.Background(), ctxKey("user"), "alice"))
	jobs <- 7
	jobs <- 8
	closeCh()
	big = make(map[int]int)
	for i := 0; i < 10000; i++ {
		big[i] = i * i
	}
	names = make(map[string]int)
	for i := 0; i < 10000; i++ {
		names[fmt.Sprintf("k%05d", i)] = i
	}
	sparse = make(map[int]string)
	for i := 0; i < 2000; i++ {
		sparse[i] = fmt.Sprintf("v%d", i)
	}
	for i := 0; i < 2000; i += 2 {
		delete(sparse, i)
	}
}

func main() {
	stacks := flag.String("stacks", "stacks.txt", "where to write the runtime's stack dump")
	flag.Parse()
	build()
	var b strings.Builder
	for _, v := range []struct {
		name string
		val  any
	}{
		{"big", big}, {"names", names}, {"sparse", sparse}, {"small", small}, {"empty", empty},
		{"nilMap", nilMap}, {"words", words}, {"greeting", greeting}, {"service", service},
		{"anyInt", anyInt}, {"anyText", anyText}, {"anyDep", anyDep}, {"anyPtr", anyPtr}, {"anyNil", anyNil},
		{"err", err}, {"nilErr", nilErr}, {"timeout", timeout}, {"tick", tick}, {"longest", longest},
		{"jobs", jobs}, {"closedCh", closedCh}, {"nilCh", nilCh},
		{"started", started}, {"ctx", ctx},
	} {
		fmt.Fprintf(&b, "%s\t%v\n", v.name, v.val)
	}
	if err := os.WriteFile(*stacks+".values", []byte(b.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	done := make(chan struct{})
	go func() {
		// Keeps the runtime's deadlock check quiet while main waits.
		for {
			time.Sleep(time.Hour)
		}
	}()
	go func() {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		if err := os.WriteFile(*stacks+".tmp", buf[:n], 0o644); err == nil {
			err = os.Rename(*stacks+".tmp", *stacks)
		}
		fmt.Printf("ready pid=%d\n", os.Getpid())
	}()
	<-done
}

func closeCh() {
	closedCh <- "last"
	close(closedCh)
}
