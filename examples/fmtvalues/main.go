// Command fmtvalues is a goroscope example for the value printer (`goroscope
// print`): package-level variables of every kind fmt knows, whose own
// fmt.Sprintf("%v") and ("%+v") texts it writes to PATH.values.json (PATH
// being the -stacks file) before it idles, so tests can compare goroscope's
// rendering of the same memory with Go's.
//
// Protocol as in the other examples (dump.go): the dumper writes the stacks
// file, prints "ready pid=N" and returns; main then sleeps forever. The
// values file is written before the dumper starts, so it exists by the time
// the ready line appears.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

type Address struct {
	Street string
	City   string
	Zip    int
}

type Person struct {
	Name  string
	Age   int
	Tags  []string
	Addr  Address
	Boss  *Person
	notes string
}

type Point struct{ X, Y int }

type Celsius float64

type Shape interface{ Area() float64 }

type Rect struct{ W, H float64 }

func (r Rect) Area() float64 { return r.W * r.H }

type Item struct {
	ID    int
	Name  string
	Price float64
}

type Catalog struct {
	Items   []Item
	ByID    map[int]*Item
	Owner   *Person
	Created time.Time
	TTL     time.Duration
	Labels  map[string]string
}

// Base is embedded in Derived: %+v names it by its type.
type Base struct{ ID int }

type Derived struct {
	Base
	Name string
}

// stamped has the same time.Time once through an exported field (fmt
// calls String()) and once through an unexported one (fmt cannot, and
// prints the raw fields).
type stamped struct {
	At time.Time
	at time.Time
}

type ctxKey string

// Event embeds time.Time: its String() is promoted, so fmt prints only
// the time (through a pointer too).
type Event struct {
	time.Time
	Name string
}

// onePtr is pointer-shaped: an interface holds it in its data word itself.
type onePtr struct{ P *int }

// BigKey is larger than 128 bytes: maps store such keys (and values)
// indirectly, behind pointers, in their buckets/groups.
type BigKey [20]int64

type BigVal [40]int32

var (
	parked sync.WaitGroup

	boolVal            = true
	intVal             = -42
	int8Val    int8    = -8
	uint16Val  uint16  = 65535
	uint64Val  uint64  = 1<<64 - 1
	uintptrVal uintptr = 0x1234
	float32Val float32 = 3.14
	float64Val         = 2.718281828459045
	bigFloat           = 1e21
	tinyFloat          = 1.5e-7
	complexVal         = complex(1.5, -2)
	stringVal          = "hello, 世界"
	emptyString string
	celsius     Celsius = 36.6

	byteSlice = []byte("hi")
	intSlice  = []int{1, 2, 3}
	runes     = []rune("añb")
	nilSlice  []int
	emptySlc  = []string{}
	arrayVal  = [3]string{"a", "b", "c"}
	matrix    = [2][2]int{{1, 2}, {3, 4}}
	slicePtr  = &intSlice

	point     = Point{1, 2}
	derived   = Derived{Base{7}, "seven"}
	boss      = Person{Name: "Ada", Age: 52, Tags: []string{"lead"}, Addr: Address{"1 Loop", "Cupertino", 95014}}
	person    = Person{Name: "Bob", Age: 31, Tags: []string{"dev", "ops"}, Addr: Address{"2 Main St", "Springfield", 12345}, Boss: &boss, notes: "likes Go"}
	personPtr = &person
	nilPtr    *Person

	bigMap       map[string]int
	intMap       map[int]string
	ptrMap       map[string]*Item
	smallMap     = map[string]int{"b": 2, "a": 1, "c": 3}
	nilMap       map[string]int
	emptyMap     = map[string]int{}
	structKeyMap = map[Point]string{{2, 1}: "c", {1, 2}: "b", {1, 1}: "a"}
	floatKeyMap  = map[float64]string{2.25: "x", -1.5: "y", 0: "z"}
	boolKeyMap   = map[bool]int{true: 1, false: 0}
	anyValMap    = map[string]any{"n": 1, "s": "x", "l": []int{1}, "nil": nil}
	growingMap   map[int]int
	bigKeyMap    map[BigKey]int
	bigValMap    map[int]BigVal
	mapPtr       = &smallMap

	anyInt    any = 42
	anyString any = "str"
	anyStruct any = Point{3, 4}
	anyPtr    any = &Point{5, 6}
	anyNil    any
	anyMap    any = map[string]int{"x": 1}
	anySlice  any = []string{"p", "q"}
	anyFloat  any = 1.5
	anyOnePtr any = onePtr{&intVal}
	shape     Shape = Rect{2, 3}

	errPlain   = errors.New("plain failure")
	errWrapped = fmt.Errorf("loading %s: %w", "config", errPlain)
	errNil     error
	opErr      = struct {
		Op  string
		Err error
	}{"read", errPlain}

	ctxValue   context.Context
	ctxDeep    context.Context // 12 WithValue layers: deep method chains
	ctxTimeout context.Context
	ctxCancel  context.CancelFunc

	when     = time.Date(2024, 3, 15, 12, 30, 45, 123456789, time.UTC)
	whenZone = time.Date(2024, 3, 15, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	stamp    = stamped{when, when}
	// Local zone (as the process loaded it) and a reading with a
	// monotonic clock: String() appends " m=+…".
	whenLocal = time.Date(2024, 7, 1, 8, 0, 0, 0, time.Local)
	event     = Event{when, "launch"}
	eventPtr  = &event
	started   = time.Now()
	dur      = 90*time.Minute + 1500*time.Millisecond
	shortDur = 1500 * time.Microsecond
	negDur   = -3 * time.Second

	mu sync.Mutex
	rw sync.RWMutex
	wg sync.WaitGroup
	// fmt is handed pointers (locks are not copied); %v prints &{...}.
	muRef = &mu
	rwRef = &rw
	wgRef = &wg

	bufChan    = make(chan int, 5)
	closedChan = make(chan string)
	nilChan    chan int
	// waitChan has one goroutine queued to receive (main.awaitSignal).
	waitChan = make(chan struct{})

	upper   = strings.ToUpper
	nilFunc func()

	catalog Catalog
)

// printed lists the globals whose fmt output is recorded, by Go name.
func printed() map[string]any {
	return map[string]any{
		"boolVal": boolVal, "intVal": intVal, "int8Val": int8Val, "uint16Val": uint16Val,
		"uint64Val": uint64Val, "uintptrVal": uintptrVal, "float32Val": float32Val,
		"float64Val": float64Val, "bigFloat": bigFloat, "tinyFloat": tinyFloat,
		"complexVal": complexVal, "stringVal": stringVal, "emptyString": emptyString,
		"celsius": celsius,
		"byteSlice": byteSlice, "intSlice": intSlice, "runes": runes, "nilSlice": nilSlice,
		"emptySlc": emptySlc, "arrayVal": arrayVal, "matrix": matrix, "slicePtr": slicePtr,
		"point": point, "derived": derived, "person": person, "personPtr": personPtr,
		"nilPtr": nilPtr,
		"bigMap": bigMap, "intMap": intMap, "ptrMap": ptrMap, "smallMap": smallMap,
		"nilMap": nilMap, "emptyMap": emptyMap, "structKeyMap": structKeyMap,
		"floatKeyMap": floatKeyMap, "boolKeyMap": boolKeyMap, "anyValMap": anyValMap,
		"growingMap": growingMap, "bigKeyMap": bigKeyMap, "bigValMap": bigValMap,
		"mapPtr": mapPtr,
		"anyInt": anyInt, "anyString": anyString, "anyStruct": anyStruct, "anyPtr": anyPtr,
		"anyNil": anyNil, "anyMap": anyMap, "anySlice": anySlice, "anyFloat": anyFloat, "anyOnePtr": anyOnePtr,
		"shape": shape,
		"errPlain": errPlain, "errWrapped": errWrapped, "errNil": errNil, "opErr": opErr,
		"ctxValue": ctxValue, "ctxDeep": ctxDeep, "ctxTimeout": ctxTimeout,
		"when": when, "whenZone": whenZone, "whenLocal": whenLocal, "event": event, "eventPtr": eventPtr, "started": started, "stamp": stamp, "dur": dur, "shortDur": shortDur,
		"negDur": negDur,
		"bufChan": bufChan, "closedChan": closedChan, "nilChan": nilChan, "waitChan": waitChan,
		"upper": upper, "nilFunc": nilFunc,
		"muRef": muRef, "rwRef": rwRef, "wgRef": wgRef,
		"catalog": catalog,
	}
}

func setup() {
	bigMap = make(map[string]int)
	for i := 0; i < 10000; i++ {
		bigMap[fmt.Sprintf("key%05d", i)] = i * 7
	}
	intMap = make(map[int]string)
	for i := 100; i > 0; i-- {
		intMap[i*3-150] = fmt.Sprint("v", i)
	}
	ptrMap = map[string]*Item{"pen": {1, "pen", 1.5}, "ink": {2, "ink", 0.25}, "pad": {3, "pad", 3}}
	// 53 entries pass the classic map's load factor (6.5 per bucket for
	// 8 buckets): the 53rd insert starts a grow that later writes would
	// finish, so the map stays half-evacuated (old buckets still in use).
	growingMap = make(map[int]int)
	for i := 0; i < 53; i++ {
		growingMap[i] = i * i
	}
	bigKeyMap = make(map[BigKey]int)
	bigValMap = make(map[int]BigVal)
	for i := 0; i < 10; i++ {
		var k BigKey
		k[0], k[19] = int64(i), int64(-i)
		bigKeyMap[k] = i
		var v BigVal
		v[0], v[39] = int32(i), int32(i*2)
		bigValMap[i] = v
	}

	base, cancel := context.WithCancel(context.Background())
	ctxValue = context.WithValue(base, ctxKey("user"), "alice")
	ctxTimeout, ctxCancel = context.WithTimeout(ctxValue, time.Hour)
	ctxDeep = context.TODO()
	for i := 0; i < 12; i++ {
		ctxDeep = context.WithValue(ctxDeep, ctxKey(fmt.Sprint("k", i)), i)
	}
	_ = cancel

	mu.Lock()
	rw.RLock()
	rw.RLock()
	wg.Add(2)

	bufChan <- 1
	bufChan <- 2
	bufChan <- 3
	close(closedChan)

	items := []Item{{1, "apple", 0.5}, {2, "bread", 2.25}, {3, "cheese", 7}}
	catalog = Catalog{
		Items:   items,
		ByID:    map[int]*Item{1: &items[0], 2: &items[1], 3: &items[2]},
		Owner:   &person,
		Created: when,
		TTL:     dur,
		Labels:  map[string]string{"env": "prod", "tier": "gold"},
	}
}

func writeValues(path string) {
	out := map[string]map[string]string{}
	for name, v := range printed() {
		out["main."+name] = map[string]string{
			"v":     fmt.Sprintf("%v", v),
			"plusv": fmt.Sprintf("%+v", v),
		}
	}
	data, err := json.Marshal(out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "values:", err)
		os.Exit(1)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "values:", err)
		os.Exit(1)
	}
	if err := os.Rename(tmp, path); err != nil {
		fmt.Fprintln(os.Stderr, "values:", err)
		os.Exit(1)
	}
}

// awaitSignal parks on waitChan for good, so the channel has a waiter.
func awaitSignal() {
	parked.Done()
	<-waitChan
}

func main() {
	stacks := stacksFlag()
	values := flag.String("values", "", "where to write the fmt output of every global (default: the stacks file + .values.json)")
	flag.Parse()
	if *values == "" && *stacks != "" {
		*values = *stacks + ".values.json"
	}

	setup()
	if *values != "" {
		writeValues(*values)
	}

	parked.Add(1)
	go awaitSignal()

	parked.Add(1) // main itself
	go dumpStacksWhenSettled(*stacks, &parked, nil)
	parked.Done()
	for {
		time.Sleep(time.Hour)
	}
}
