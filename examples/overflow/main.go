// Command overflow blows its stack through mutual recursion, the way a
// template engine does when a partial includes the page that includes it.
// It lowers the stack limit to 32 MiB (debug.SetMaxStack) so the crash is
// quick and the core small. Run it with GOTRACEBACK=crash and `ulimit -c
// unlimited`: the runtime prints "goroutine stack exceeds 33554432-byte
// limit" and "fatal error: stack overflow", then dumps core.
//
// Ground truth for tests: it prints `overflow goroutine=N limit=33554432
// cycle=main.render,main.renderPartial entry=main.(*Site).build` before it
// recurses, then `ready pid=N` is never printed (it crashes instead).
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// Page is a template that may include partials.
type Page struct {
	Name     string
	Includes []*Page
}

// render renders a page by rendering each of its partials.
//
//go:noinline
func render(p *Page, depth int) int {
	n := len(p.Name)
	for _, inc := range p.Includes {
		n += renderPartial(inc, depth+1)
	}
	return n
}

// renderPartial renders an included page; the layout includes the page
// back, so this never ends.
//
//go:noinline
func renderPartial(p *Page, depth int) int {
	var scratch [8]int // a little frame, as real renderers have
	scratch[depth%8] = depth
	return render(p, depth+1) + scratch[0]
}

// Site builds pages.
type Site struct{ Root *Page }

//go:noinline
func (s *Site) build() int { return render(s.Root, 0) }

func goid() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	return strings.Fields(string(buf))[1]
}

func main() {
	debug.SetMaxStack(32 << 20)
	layout := &Page{Name: "layout"}
	page := &Page{Name: "article", Includes: []*Page{layout}}
	layout.Includes = []*Page{page}
	site := &Site{Root: page}
	done := make(chan int)
	go func() {
		id, _ := strconv.Atoi(goid())
		fmt.Printf("overflow goroutine=%d limit=%d cycle=main.render,main.renderPartial entry=main.(*Site).build\n", id, 32<<20)
		os.Stdout.Sync()
		done <- site.build()
	}()
	fmt.Println(<-done)
}
