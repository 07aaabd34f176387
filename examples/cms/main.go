// Command cms is a goroscope example: a pretend content-management service
// whose goroutines end up parked in every common wait state (channel
// operations, select, mutexes, wait groups, condition variables, sleep,
// network I/O, a raw system call, a CPU loop, a locked OS thread, deep
// recursion, inlined and generic frames, closures, pprof labels).
//
// Once everything is parked, a dumper goroutine writes runtime.Stack(all) to
// the -stacks file and prints "ready pid=<pid>"; the process then idles
// until killed. See dump.go and ../README.md.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"
)

// parked counts goroutines that have not yet reached their final blocking
// call. Every goroutine calls parked.Done() immediately before it.
var parked sync.WaitGroup

// never is a channel nothing ever sends on or closes.
var never = make(chan struct{})

// ---------------------------------------------------------------------------
// Content store: channel receive, mutex holder and mutex waiter, an inlined
// helper in a parked call path.

type Article struct {
	ID    int
	Title string
}

type ContentStore struct {
	mu            sync.Mutex
	articles      map[int]*Article
	flushRequests chan struct{}
	compactDone   chan struct{}
	invalidations chan string
}

func NewContentStore() *ContentStore {
	return &ContentStore{
		articles:      map[int]*Article{1: {ID: 1, Title: "Hello"}},
		flushRequests: make(chan struct{}),
		compactDone:   make(chan struct{}),
		invalidations: make(chan string),
	}
}

// flushLoop waits for flush requests: [chan receive].
func (s *ContentStore) flushLoop() {
	parked.Done()
	<-s.flushRequests
}

// compact takes the store lock and, while holding it, waits for a
// compaction signal that never comes: [chan receive], holding s.mu.
func (s *ContentStore) compact(holding chan<- struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(holding)
	parked.Done()
	<-s.compactDone
}

// Get blocks on the store lock held by compact: [sync.Mutex.Lock].
func (s *ContentStore) Get(id int) *Article {
	parked.Done()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.articles[id]
}

// nextInvalidation is small enough to be inlined into watchInvalidations
// (no //go:noinline on purpose): the runtime shows it as an inlined frame.
func nextInvalidation(ch <-chan string) string {
	return <-ch
}

// watchInvalidations blocks in the inlined nextInvalidation: [chan receive].
func (s *ContentStore) watchInvalidations() {
	parked.Done()
	key := nextInvalidation(s.invalidations)
	delete(s.articles, len(key))
}

// ---------------------------------------------------------------------------
// Sessions: select, RWMutex readers/writer, a generic wait.

type SessionManager struct {
	mu       sync.RWMutex
	sessions map[string]string
	expire   chan string
	revoke   chan string
	quit     chan struct{}
	logins   chan string
	exported chan struct{}
}

func NewSessionManager() *SessionManager {
	return &SessionManager{
		sessions: map[string]string{"s1": "alice"},
		expire:   make(chan string),
		revoke:   make(chan string),
		quit:     make(chan struct{}),
		logins:   make(chan string),
		exported: make(chan struct{}),
	}
}

// expireLoop waits on several channels, none ever ready: [select].
func (m *SessionManager) expireLoop() {
	parked.Done()
	select {
	case id := <-m.expire:
		delete(m.sessions, id)
	case id := <-m.revoke:
		delete(m.sessions, id)
	case <-m.quit:
	}
}

// exportSnapshot holds a read lock while waiting for the export to be
// collected: [chan receive], holding m.mu for reading.
func (m *SessionManager) exportSnapshot(holding *sync.WaitGroup) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	holding.Done()
	parked.Done()
	<-m.exported
}

// rotateKeys wants the write lock while readers hold it: [sync.RWMutex.Lock].
func (m *SessionManager) rotateKeys() {
	parked.Done()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sessions = map[string]string{}
}

// Lookup wants a read lock behind the waiting writer: [sync.RWMutex.RLock].
func (m *SessionManager) Lookup(id string) string {
	parked.Done()
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.sessions[id]
}

// waitFor is generic; it is called with two type arguments of different
// shapes (*Article and string), so the binary holds two instantiations.
//
//go:noinline
func waitFor[T any](ch <-chan T) T {
	return <-ch
}

// awaitLogin: [chan receive] in main.waitFor[...] (string shape).
func (m *SessionManager) awaitLogin() {
	parked.Done()
	user := waitFor(m.logins)
	m.sessions["new"] = user
}

// ---------------------------------------------------------------------------
// Render pipeline: full buffered channel, worker goroutines started with
// arguments, WaitGroup.Wait, deep recursion.

type RenderPipeline struct {
	queue   chan *Article
	jobs    chan int
	workers sync.WaitGroup
	publish chan struct{}
}

func NewRenderPipeline() *RenderPipeline {
	p := &RenderPipeline{
		queue:   make(chan *Article, 4),
		jobs:    make(chan int),
		publish: make(chan struct{}),
	}
	for i := 0; i < cap(p.queue); i++ {
		p.queue <- &Article{ID: 100 + i}
	}
	p.workers.Add(1) // never Done
	return p
}

// submit sends on the full buffered queue: [chan send].
func (p *RenderPipeline) submit(a *Article) {
	parked.Done()
	p.queue <- a
}

// drain waits for workers that never finish: [sync.WaitGroup.Wait]
// (Go <= 1.23 reports this as [semacquire]).
func (p *RenderPipeline) drain() {
	parked.Done()
	p.workers.Wait()
}

// renderWorker is started as "go renderWorker(i, p.jobs)": a go statement
// calling a function with arguments (Go 1.22+ wraps it in a gowrap closure).
func renderWorker(id int, jobs <-chan int) {
	parked.Done()
	for job := range jobs {
		_ = id + job
	}
}

const renderTreeDepth = 150

// renderTree recurses renderTreeDepth levels deep and parks at the bottom:
// [chan receive] under 150 renderNode frames (the runtime elides the
// middle of tracebacks longer than 100 frames).
func (p *RenderPipeline) renderTree() {
	renderNode(renderTreeDepth, p.publish)
}

func renderNode(depth int, publish <-chan struct{}) int {
	if depth <= 1 {
		parked.Done()
		<-publish
		return 1
	}
	return renderNode(depth-1, publish) + 1
}

// ---------------------------------------------------------------------------
// Publishing: unbuffered send, sync.Cond, a goroutine started by a closure
// inside a method, generic wait with a pointer type.

type Publisher struct {
	mu       sync.Mutex
	approved *sync.Cond
	ok       bool
	out      chan *Article
	drafts   chan *Article
	webhooks chan string
}

func NewPublisher() *Publisher {
	p := &Publisher{
		out:      make(chan *Article),
		drafts:   make(chan *Article),
		webhooks: make(chan string),
	}
	p.approved = sync.NewCond(&p.mu)
	return p
}

// run publishes an article nobody consumes: [chan send].
func (p *Publisher) run() {
	a := &Article{ID: 7, Title: "Breaking"}
	parked.Done()
	p.out <- a
}

// awaitApproval waits on a condition variable never signalled: [sync.Cond.Wait].
func (p *Publisher) awaitApproval() {
	p.mu.Lock()
	defer p.mu.Unlock()
	parked.Done()
	for !p.ok {
		p.approved.Wait()
	}
}

// awaitDraft: [chan receive] in main.waitFor[...] (pointer shape).
func (p *Publisher) awaitDraft() *Article {
	parked.Done()
	return waitFor(p.drafts)
}

// start launches the webhook dispatcher as a closure inside a method
// (main.(*Publisher).start.func1): [chan receive].
func (p *Publisher) start() {
	parked.Add(1)
	go func() {
		parked.Done()
		for url := range p.webhooks {
			_ = url
		}
	}()
}

// ---------------------------------------------------------------------------
// Search indexer: [sleep].

type SearchIndexer struct{ generation int }

func (ix *SearchIndexer) reindexHourly() {
	parked.Done()
	for {
		time.Sleep(1 * time.Hour)
		ix.generation++
	}
}

// ---------------------------------------------------------------------------
// HTTP front end: Accept, a handler reading a request, a client reading a
// response, all [IO wait].

type HTTPServer struct {
	ln net.Listener
}

// serve accepts connections; after handing off the first one it parks in
// Accept again for good: [IO wait].
func (s *HTTPServer) serve() {
	for n := 0; ; n++ {
		if n == 1 {
			parked.Done()
		}
		conn, err := s.ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "accept:", err)
			return
		}
		parked.Add(1)
		go s.handleConn(conn)
	}
}

// handleConn reads request headers; the client never finishes its request,
// so it parks reading the socket: [IO wait].
func (s *HTTPServer) handleConn(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		if line == "\r\n" {
			break
		}
		if strings.HasPrefix(line, "Host:") {
			// The client sent nothing after this header: the next read blocks.
			parked.Done()
		}
	}
	io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
}

// probeHealth dials the server, sends an incomplete request and waits for
// the response: [IO wait].
func probeHealth(addr string) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		os.Exit(1)
	}
	io.WriteString(conn, "GET /health HTTP/1.1\r\nHost: cms.local\r\n")
	buf := make([]byte, 512)
	parked.Done()
	conn.Read(buf)
}

// ---------------------------------------------------------------------------
// Media importer: a raw blocking read(2) on a pipe: [syscall].

type MediaImporter struct {
	r, w *os.File // kept referenced so the finalizers never close the pipe
}

var importer *MediaImporter

func (m *MediaImporter) readUpload() {
	fd := int(m.r.Fd())
	if err := syscall.SetNonblock(fd, false); err != nil {
		fmt.Fprintln(os.Stderr, "setnonblock:", err)
		os.Exit(1)
	}
	buf := make([]byte, 4096)
	parked.Done()
	syscall.Read(fd, buf)
}

// ---------------------------------------------------------------------------
// Thumbnail encoder: a CPU-bound loop without calls: [running]/[runnable].

var spinCounter uint64

// spin never blocks and never calls anything inside its loop.
func spin() {
	parked.Done()
	for {
		spinCounter++
	}
}

// ---------------------------------------------------------------------------
// Image resizer bound to an OS thread: [chan receive, locked to thread].

type ImageResizer struct{ requests chan string }

func (r *ImageResizer) runOnLockedThread() {
	runtime.LockOSThread()
	parked.Done()
	for req := range r.requests {
		_ = req
	}
}

// ---------------------------------------------------------------------------
// Sitemap builder running under pprof labels: [chan receive].

type SitemapBuilder struct{ rebuild chan struct{} }

func (b *SitemapBuilder) build() {
	labels := pprof.Labels("component", "sitemap", "tenant", "acme")
	pprof.Do(context.Background(), labels, func(ctx context.Context) {
		parked.Done()
		<-b.rebuild
	})
}

// ---------------------------------------------------------------------------
// Odds and ends: nil channels, select {}.

// waitForCacheOrigin receives from a nil channel: [chan receive (nil chan)].
func waitForCacheOrigin() {
	var origin chan struct{} // never made
	parked.Done()
	<-origin
}

// shipAuditLog sends on a nil channel: [chan send (nil chan)].
func shipAuditLog(entry string) {
	var sink chan string // never made
	parked.Done()
	sink <- entry
}

// janitor parks forever in an empty select: [select (no cases)].
func janitor() {
	parked.Done()
	select {}
}

// ---------------------------------------------------------------------------

func main() {
	stacks := stacksFlag()
	flag.Parse()

	store := NewContentStore()
	sessions := NewSessionManager()
	pipeline := NewRenderPipeline()
	publisher := NewPublisher()
	indexer := &SearchIndexer{}
	resizer := &ImageResizer{requests: make(chan string)}
	sitemap := &SitemapBuilder{rebuild: make(chan struct{})}
	configReload := make(chan string)
	shutdown := make(chan struct{})

	// Content store. compact must own the lock before Get asks for it.
	holding := make(chan struct{})
	parked.Add(4)
	go store.flushLoop()
	go store.compact(holding)
	<-holding
	go store.Get(1)
	go store.watchInvalidations()

	// Sessions. Two readers hold the RWMutex, then a writer queues up, then
	// a reader queues behind the writer.
	var readers sync.WaitGroup
	readers.Add(2)
	parked.Add(3)
	go sessions.expireLoop()
	go sessions.exportSnapshot(&readers)
	go sessions.exportSnapshot(&readers)
	readers.Wait()
	parked.Add(1)
	go sessions.rotateKeys()
	for sessions.mu.TryRLock() { // fails once the writer is pending
		sessions.mu.RUnlock()
		time.Sleep(time.Millisecond)
	}
	parked.Add(2)
	go sessions.Lookup("s1")
	go sessions.awaitLogin()

	// Render pipeline.
	parked.Add(3)
	go pipeline.submit(&Article{ID: 200})
	go pipeline.drain()
	go pipeline.renderTree()
	for i := 0; i < 3; i++ {
		parked.Add(1)
		go renderWorker(i, pipeline.jobs)
	}

	// Publishing.
	parked.Add(3)
	go publisher.run()
	go publisher.awaitApproval()
	go publisher.awaitDraft()
	publisher.start()

	// Background services.
	parked.Add(1)
	go indexer.reindexHourly()

	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pipe:", err)
		os.Exit(1)
	}
	importer = &MediaImporter{r: r, w: w}
	parked.Add(6)
	go importer.readUpload()
	go spin()
	go resizer.runOnLockedThread()
	go sitemap.build()
	go waitForCacheOrigin()
	go shipAuditLog("login alice")

	parked.Add(2)
	go janitor()
	// A plain closure (main.main.func1): [chan receive].
	go func() {
		parked.Done()
		for path := range configReload {
			_ = path
		}
	}()

	// HTTP front end.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	srv := &HTTPServer{ln: ln}
	parked.Add(2) // serve (second Accept) + probeHealth; handleConn adds itself
	go srv.serve()
	go probeHealth(ln.Addr().String())

	parked.Add(1) // main itself
	go dumpStacksWhenSettled(*stacks, &parked, []string{"main.spin"})

	// main parks for good: [chan receive].
	parked.Done()
	<-shutdown
}
