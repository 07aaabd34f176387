// Command pipeline is a goroscope example of the classic goroutine leak: a
// three-stage CMS publishing pipeline whose last stage returned early on an
// error, leaving the stages in front of it blocked on their sends.
//
//	fetch --results (unbuffered)--> render --pages (cap 4)--> publish (gone)
//
// render fills pages, then blocks sending the fifth page; fetch blocks
// sending the sixth draft, which render will never receive. The pipeline
// runs twice:
//
//   - runPipeline (articles): results and pages are local to runPipeline,
//     which has returned. Only the stacks of the two stuck goroutines refer
//     to the channels, so nothing can ever wake them: both are leaked (and
//     Go's goroutineleak profile reports them: Go 1.27, or Go 1.26 with
//     GOEXPERIMENT=goroutineleakprofile). Names: main.runPipeline.results,
//     main.runPipeline.pages.
//   - the syndication feed: the same stages on the package-level channels
//     main.feedResults and main.feedPages. Any live goroutine (main, say,
//     restarting the feed publisher) could still drain them, so the two
//     stuck stages are only blocked.
//
// main ends sleeping an hour at a time (live); its timer also keeps the
// runtime's "all goroutines are asleep" check quiet. The publish goroutines
// have exited and are not listed in the truth file.
//
// Protocol as in the other examples (dump.go, truth.go).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"
)

var (
	parked sync.WaitGroup
	truth  = newTruth("pipeline")
)

type Draft struct {
	ID    int
	Title string
}

type Page struct {
	ID   int
	HTML string
}

const pageBuffer = 4

// The syndication feed's channels are package-level: reachable from a
// global, so whoever is stuck on them could still be woken.
var (
	feedResults = make(chan *Draft)
	feedPages   = make(chan *Page, pageBuffer)
)

func drafts(n int) []*Draft {
	out := make([]*Draft, n)
	for i := range out {
		out[i] = &Draft{ID: i + 1, Title: fmt.Sprintf("Draft %d", i+1)}
	}
	return out
}

func renderHTML(d *Draft) *Page {
	return &Page{ID: d.ID, HTML: "<h1>" + d.Title + "</h1>"}
}

// stuckSend is the index of the first draft fetch can never hand over:
// pageBuffer pages fill the buffer, render holds one more, and the send
// after that finds render stuck.
const stuckSend = pageBuffer + 1

// ---------------------------------------------------------------------------
// Articles: channels local to runPipeline.

// runPipeline wires the three stages together and returns the first error.
// When publishArticles fails it returns at once, without draining the
// channels: fetchArticles and renderArticles stay blocked for good.
func runPipeline(in []*Draft) error {
	results := make(chan *Draft)
	pages := make(chan *Page, pageBuffer)
	errc := make(chan error, 1)
	parked.Add(2)
	go fetchArticles(in, results)
	go renderArticles(results, pages)
	go publishArticles(pages, errc)
	return <-errc
}

// fetchArticles blocks sending draft stuckSend: [chan send].
func fetchArticles(in []*Draft, results chan<- *Draft) {
	truth.self("fetchArticles", "fetchArticles: sends on main.runPipeline.results; its only receiver, renderArticles, is stuck",
		leaked, kindChanSend, "main.runPipeline.results", "renderArticles")
	for i, d := range in {
		if i == stuckSend {
			parked.Done()
		}
		results <- d
	}
	close(results)
}

// renderArticles blocks sending on the full pages buffer: [chan send].
func renderArticles(results <-chan *Draft, pages chan<- *Page) {
	truth.self("renderArticles", "renderArticles: sends on the full main.runPipeline.pages; its receiver publishArticles has returned",
		leaked, kindChanSend, "main.runPipeline.pages")
	for d := range results {
		p := renderHTML(d)
		if len(pages) == cap(pages) { // full, and nobody will ever receive
			parked.Done()
		}
		pages <- p
	}
	close(pages)
}

// cdnToken would be loaded from the deployment's secrets; here it never is.
var cdnToken string

// publishArticles fails before it receives anything and returns.
func publishArticles(pages <-chan *Page, errc chan<- error) {
	if cdnToken == "" {
		errc <- errors.New("publish: CDN token expired")
		return
	}
	for p := range pages {
		_ = p
	}
	errc <- nil
}

// ---------------------------------------------------------------------------
// Syndication feed: the same stages on package-level channels.

// fetchFeed blocks sending on main.feedResults: [chan send].
func fetchFeed(in []*Draft) {
	truth.self("fetchFeed", "fetchFeed: sends on the global main.feedResults; its receiver renderFeed is blocked",
		blocked, kindChanSend, "main.feedResults", "renderFeed")
	for i, d := range in {
		if i == stuckSend {
			parked.Done()
		}
		feedResults <- d
	}
	close(feedResults)
}

// renderFeed blocks sending on the full main.feedPages: [chan send].
func renderFeed() {
	truth.self("renderFeed", "renderFeed: sends on the full global main.feedPages; its receiver publishFeed has returned, but the channel is reachable",
		blocked, kindChanSend, "main.feedPages")
	for d := range feedResults {
		p := renderHTML(d)
		if len(feedPages) == cap(feedPages) {
			parked.Done()
		}
		feedPages <- p
	}
	close(feedPages)
}

// publishFeed fails at once, like publishArticles.
func publishFeed(errc chan<- error) {
	errc <- errors.New("syndication: partner endpoint returned 410 Gone")
}

func main() {
	stacks := stacksFlag()
	truthOut := truthFlag()
	flag.Parse()

	if err := runPipeline(drafts(8)); err != nil {
		fmt.Fprintln(os.Stderr, "articles:", err)
	}

	errc := make(chan error, 1)
	parked.Add(2)
	go fetchFeed(drafts(8))
	go renderFeed()
	go publishFeed(errc)
	if err := <-errc; err != nil {
		fmt.Fprintln(os.Stderr, "feed:", err)
	}

	parked.Add(1) // main itself
	go dumpTruthAndStacks(truth, truthPath(*truthOut, *stacks), *stacks, &parked, nil)

	// main supervises from here on; it is the live goroutine that could
	// restart a feed publisher. It sleeps an hour at a time: [sleep].
	truth.self("main", "main: supervisor, sleeps an hour at a time",
		live, kindSleep, "")
	parked.Done()
	for {
		time.Sleep(time.Hour)
	}
}
