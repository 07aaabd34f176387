// Command healthy is the negative control for goroscope's deadlock and
// leak analysis: a pretend catalogue service that is idle but perfectly
// healthy. Every goroutine is parked, yet each one will be woken by a
// timer, by the network, or by another goroutine that is itself live, so
// none may be reported as deadlocked or leaked.
//
//	dispatchJobs        for range main.dispatchTicker.C (1h ticker): live
//	jobWorker x3        receive from main.jobs, fed by dispatchJobs: blocked
//	serveAPI            net/http Server.Serve, parked in Accept: live (IO)
//	net/http conn.serve the server side of an idle keep-alive connection,
//	                    reading the next request: live (IO)
//	persistConn.readLoop  the client side of that connection: live (IO)
//	persistConn.writeLoop select on the connection's writech/closech:
//	                    blocked (readLoop closes closech if the peer hangs up)
//	rotateLogs          time.Sleep(1h): live
//	scheduleReindex     sleeps 1h, then sends on main.reindex: live
//	walkCategories      200 frames deep, then receives from main.reindex:
//	                    blocked (scheduleReindex will send)
//	refreshToken        <-main.tokenCtx.Done(), a context with a 1h
//	                    timeout: live (its timer cancels the context)
//	main                receives from the global main.shutdown: blocked
//
// The client and server goroutines belong to net/http. The example learns
// their ids from code that net/http calls on them: the server's ConnState
// hook (called on the conn.serve goroutine when the connection goes idle)
// and a metered net.Conn whose first Read comes from readLoop and first
// Write from writeLoop. The client uses its own Transport without an idle
// timeout, and the server's is two hours (the read deadline of its side
// of the connection), so the keep-alive connection stays open. Each of the
// three IO waits records its socket as the program sees it (truth.socket):
// the listener's address, and each side's local and remote address.
//
// Nothing fires for an hour, so the state stays put while tests run.
//
// Protocol as in the other examples (dump.go, truth.go).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

var (
	parked sync.WaitGroup
	truth  = newTruth("healthy")
)

// Background jobs: an hourly ticker feeds a worker pool.
var (
	dispatchTicker = time.NewTicker(time.Hour)
	jobs           = make(chan time.Time)
)

// dispatchJobs hands every tick to a worker: [chan receive] on the ticker.
func dispatchJobs() {
	truth.self("dispatcher", "dispatchJobs: waits for main.dispatchTicker.C (1h ticker), then feeds main.jobs",
		live, kindChanRecv, "main.dispatchTicker.C")
	parked.Done()
	for t := range dispatchTicker.C {
		jobs <- t
	}
}

// jobWorker runs jobs from main.jobs: [chan receive].
func jobWorker(n int) {
	truth.self(fmt.Sprintf("worker-%d", n),
		fmt.Sprintf("jobWorker %d: receives from main.jobs, which the live dispatchJobs sends on", n),
		blocked, kindChanRecv, "main.jobs", "dispatcher")
	parked.Done()
	for t := range jobs {
		_ = t
	}
}

// Maintenance: plain sleeps, and a deep walk that waits for the next
// scheduled reindex.
var reindex = make(chan struct{})

// rotateLogs: [sleep].
func rotateLogs() {
	truth.self("rotateLogs", "rotateLogs: sleeps an hour at a time",
		live, kindSleep, "")
	parked.Done()
	for {
		time.Sleep(time.Hour)
	}
}

// scheduleReindex sleeps, then triggers the reindex: [sleep].
func scheduleReindex() {
	truth.self("scheduleReindex", "scheduleReindex: sleeps an hour, then sends on main.reindex",
		live, kindSleep, "")
	parked.Done()
	for {
		time.Sleep(time.Hour)
		reindex <- struct{}{}
	}
}

const categoryDepth = 200

// walkCategories descends the category tree and waits at the bottom for
// the next reindex: [chan receive] under 200 frames (the runtime elides the
// middle of tracebacks longer than 100 frames).
//
//go:noinline
func walkCategories(depth int) int {
	if depth <= 1 {
		truth.self("walkCategories", "walkCategories: 200 frames deep, receives from main.reindex, which the live scheduleReindex sends on",
			blocked, kindChanRecv, "main.reindex", "scheduleReindex")
		parked.Done()
		<-reindex
		return 1
	}
	return walkCategories(depth-1) + 1
}

// Credentials: a token that must be refreshed when its context expires.
var (
	tokenCtx    context.Context
	tokenCancel context.CancelFunc
)

// refreshToken waits for the token's context to expire: [chan receive].
func refreshToken() {
	truth.self("refreshToken", "refreshToken: waits on main.tokenCtx.Done(); the context's 1h timeout will close it",
		live, kindChanRecv, "main.tokenCtx.Done()")
	parked.Done()
	<-tokenCtx.Done()
}

// HTTP API with a client keeping an idle keep-alive connection.
var (
	apiListener net.Listener
	apiServer   *http.Server
	apiClient   *http.Client
	serverIdle  = make(chan struct{})
	idleOnce    sync.Once
)

// serveAPI runs the server: the Serve goroutine parks in Accept ([IO wait]).
func serveAPI() {
	truth.self("serveAPI", "serveAPI: net/http Server.Serve, accepting on main.apiListener",
		live, kindIO, "main.apiListener")
	truth.socket("serveAPI", "accept", "tcp", apiListener.Addr().String(), "")
	parked.Done()
	apiServer.Serve(apiListener)
}

// connState runs on the server's conn.serve goroutine for StateIdle: that
// goroutine then waits for the next request on the kept-alive connection.
func connState(c net.Conn, state http.ConnState) {
	if state != http.StateIdle {
		return
	}
	idleOnce.Do(func() {
		truth.self("serverConn", "net/http conn.serve: server side of the idle keep-alive connection, reading the next request",
			live, kindIO, "net/http.(*conn).rwc")
		truth.socket("serverConn", "read", "tcp", c.LocalAddr().String(), c.RemoteAddr().String())
		close(serverIdle)
	})
}

// meteredConn counts bytes; its first Read and Write record the transport
// goroutines that own the connection.
type meteredConn struct {
	net.Conn
	readOnce, writeOnce sync.Once
	in, out             int64
}

func (c *meteredConn) Read(p []byte) (int, error) {
	c.readOnce.Do(func() {
		truth.self("clientReadLoop", "net/http persistConn.readLoop: client side of the idle keep-alive connection, waiting for the server",
			live, kindIO, "net/http.(*persistConn).conn")
		truth.socket("clientReadLoop", "read", "tcp", c.LocalAddr().String(), c.RemoteAddr().String())
	})
	n, err := c.Conn.Read(p)
	c.in += int64(n)
	return n, err
}

func (c *meteredConn) Write(p []byte) (int, error) {
	c.writeOnce.Do(func() {
		truth.self("clientWriteLoop", "net/http persistConn.writeLoop: waits for the next request or for readLoop to close the connection",
			blocked, kindSelect, "net/http.(*persistConn).writech, net/http.(*persistConn).closech", "clientReadLoop")
	})
	n, err := c.Conn.Write(p)
	c.out += int64(n)
	return n, err
}

func dialMetered(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &meteredConn{Conn: conn}, nil
}

// checkHealth makes one request and reads the whole body, so the
// connection goes back to the client's idle pool.
func checkHealth() error {
	resp, err := apiClient.Get("http://" + apiListener.Addr().String() + "/healthz")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

var shutdown = make(chan struct{})

func main() {
	stacks := stacksFlag()
	truthOut := truthFlag()
	flag.Parse()

	parked.Add(1)
	go dispatchJobs()
	for i := 1; i <= 3; i++ {
		parked.Add(1)
		go jobWorker(i)
	}

	parked.Add(3)
	go rotateLogs()
	go scheduleReindex()
	go walkCategories(categoryDepth)

	tokenCtx, tokenCancel = context.WithTimeout(context.Background(), time.Hour)
	parked.Add(1)
	go refreshToken()

	var err error
	apiListener, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	// The idle timeout is the server side's read deadline while it waits
	// for the next request (far beyond the test's life).
	apiServer = &http.Server{Handler: mux, ConnState: connState, IdleTimeout: 2 * time.Hour}
	apiClient = &http.Client{Transport: &http.Transport{DialContext: dialMetered}}
	parked.Add(1)
	go serveAPI()
	if err := checkHealth(); err != nil {
		fmt.Fprintln(os.Stderr, "health check:", err)
		os.Exit(1)
	}
	<-serverIdle

	parked.Add(1) // main itself
	go dumpTruthAndStacks(truth, truthPath(*truthOut, *stacks), *stacks, &parked, nil)

	truth.self("main", "main: receives from the global main.shutdown",
		blocked, kindChanRecv, "main.shutdown")
	parked.Done()
	<-shutdown
	tokenCancel()
}
