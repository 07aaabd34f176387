// Command condwait is a goroscope example of goroutines parked in
// sync.Cond.Wait ([sync.Cond.Wait]) on conditions nobody will ever signal,
// in a CMS editorial workflow.
//
//   - requestApprovals creates an ApprovalQueue, starts one awaitApproval
//     goroutine per article and returns; the approver that would Broadcast
//     was never started. The queue is referenced only by the two waiters'
//     stacks, so nothing can ever reach its cond: both are leaked (Go's
//     goroutineleak profile reports them too: Go 1.27, or Go 1.26 with
//     GOEXPERIMENT=goroutineleakprofile). Name:
//     main.(*ApprovalQueue).approved.
//   - publishWorker waits on main.publishQueue.nonEmpty. Nobody enqueues
//     anything either, but the queue is a global: any live goroutine could
//     still Signal it, so the worker is only blocked.
//
//   - awaitReview waits on the global main.review.ready, whose lock is
//     main.review.mu. editor took review.mu (with a deferred Unlock) once
//     awaitReview was in Wait, then blocked on a channel only it has: it
//     is leaked, and holds review.mu forever. Any live goroutine could
//     still Signal review.ready (it is a global, so the runtime's leak
//     profile cannot condemn awaitReview), but Wait must take review.mu
//     back before it returns: awaitReview can never finish, leaked on the
//     evidence of editor's pending Unlock. awaitReview's own deferred
//     review.mu.Unlock proves nothing: Wait released the lock.
//
// main ends sleeping an hour at a time (live), which also keeps the
// runtime's "all goroutines are asleep" check quiet.
//
// Protocol as in the other examples (dump.go, truth.go).
package main

import (
	"flag"
	"fmt"
	"sync"
	"time"
)

var (
	parked sync.WaitGroup
	truth  = newTruth("condwait")
)

// ApprovalQueue lets editors wait until an article is approved.
type ApprovalQueue struct {
	mu       sync.Mutex
	approved *sync.Cond
	ok       map[int]bool
}

func newApprovalQueue() *ApprovalQueue {
	q := &ApprovalQueue{ok: map[int]bool{}}
	q.approved = sync.NewCond(&q.mu)
	return q
}

// requestApprovals starts a waiter per article. BUG: it never starts the
// approver that would set q.ok and Broadcast, and drops q.
func requestApprovals(articles ...int) {
	q := newApprovalQueue()
	for _, id := range articles {
		parked.Add(1)
		go q.awaitApproval(id)
	}
}

// awaitApproval waits for the article's approval: [sync.Cond.Wait]. Its
// frame has a pending deferred q.mu.Unlock, yet it does not hold q.mu:
// Cond.Wait released the lock and takes it back only when woken.
func (q *ApprovalQueue) awaitApproval(article int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	truth.self(fmt.Sprintf("approval-%d", article),
		fmt.Sprintf("ApprovalQueue.awaitApproval(%d): waits on main.(*ApprovalQueue).approved; the queue is reachable only from the waiters", article),
		leaked, kindCond, "main.(*ApprovalQueue).approved")
	parked.Done()
	for !q.ok[article] {
		q.approved.Wait()
	}
}

// PublishQueue hands approved articles to the publisher.
type PublishQueue struct {
	mu       sync.Mutex
	nonEmpty *sync.Cond
	items    []string
}

var publishQueue = newPublishQueue()

func newPublishQueue() *PublishQueue {
	q := &PublishQueue{}
	q.nonEmpty = sync.NewCond(&q.mu)
	return q
}

// publishWorker waits for work on the global queue: [sync.Cond.Wait].
func publishWorker() {
	publishQueue.mu.Lock()
	defer publishQueue.mu.Unlock()
	truth.self("publishWorker", "publishWorker: waits on the global main.publishQueue.nonEmpty; nothing enqueues, but any live goroutine could",
		blocked, kindCond, "main.publishQueue.nonEmpty")
	parked.Done()
	for len(publishQueue.items) == 0 {
		publishQueue.nonEmpty.Wait()
	}
	publishQueue.items = publishQueue.items[1:]
}

// Review gates publication on an editor's review.
type Review struct {
	mu    sync.Mutex
	ready *sync.Cond
	done  bool
}

var review = newReview()

func newReview() *Review {
	r := &Review{}
	r.ready = sync.NewCond(&r.mu)
	return r
}

// inWait is set, under review.mu, just before awaitReview calls Wait, so
// whoever next takes review.mu knows awaitReview is queued on the cond.
var inWait bool

// awaitReview waits for the review: [sync.Cond.Wait].
func awaitReview() {
	review.mu.Lock()
	defer review.mu.Unlock()
	truth.self("awaitReview", "awaitReview: waits on the global main.review.ready; even signalled, Wait must retake main.review.mu, held forever by the leaked editor",
		leaked, kindCond, "main.review.ready", "editor")
	parked.Done()
	inWait = true
	for !review.done {
		review.ready.Wait()
	}
}

// editor takes review.mu once awaitReview waits, then blocks forever on a
// channel only its own stack refers to, never reaching its deferred Unlock.
func editor() {
	for {
		review.mu.Lock()
		if inWait {
			break
		}
		review.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	defer review.mu.Unlock()
	comments := make(chan string) // BUG: the reviewer tool was never wired up
	truth.self("editor", "editor: holds main.review.mu (deferred Unlock), receives from its own channel: nothing can reach it",
		leaked, kindChanRecv, "main.editor.comments")
	parked.Done()
	<-comments
}

func main() {
	stacks := stacksFlag()
	truthOut := truthFlag()
	flag.Parse()

	requestApprovals(101, 102)
	parked.Add(1)
	go publishWorker()
	parked.Add(2)
	go awaitReview()
	go editor()
	truth.beyondRuntime("waits on a global Cond whose lock's only certain holder (a pending deferred Unlock) is the leaked editor",
		"awaitReview")

	parked.Add(1) // main itself
	go dumpTruthAndStacks(truth, truthPath(*truthOut, *stacks), *stacks, &parked, nil)

	truth.self("main", "main: sleeps an hour at a time",
		live, kindSleep, "")
	parked.Done()
	for {
		time.Sleep(time.Hour)
	}
}
