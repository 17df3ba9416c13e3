// concurrency_test.go: one Context used from two goroutines, from its own progress callback, and
// closed during a call: every overlap is an ErrBusy error, never a crash.
package kvc

import (
	"errors"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// smallCache is a small f32 cache: quick calls, so that goroutines overlap often.
func smallCache() (Shape, []byte, []byte) {
	shape := NewShape(2, 2, 64, 32, DTypeF32)
	n := shape.TensorBytes() / 4
	keys, values := make([]float32, n), make([]float32, n)
	for i := range keys {
		keys[i] = float32(math.Sin(float64(i) * 0.1))
		values[i] = float32(math.Cos(float64(i) * 0.07))
	}
	return shape, Float32Bytes(keys), Float32Bytes(values)
}

// wantBusy checks that err is the guard's ErrBusy error.
func wantBusy(t *testing.T, what string, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrBusy) || e.Message != busyMessage {
		t.Errorf("%s during a call: got %v, want KVC_ERR_BUSY: %s", what, err, busyMessage)
	}
}

// wantClosed checks that err is the error of a closed Context.
func wantClosed(t *testing.T, what string, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Status != StatusInvalidArgument || !strings.Contains(e.Message, "closed") {
		t.Errorf("%s after Close: got %v, want KVC_ERR_INVALID_ARGUMENT: %s", what, err, closedMessage)
	}
}

func TestTwoGoroutinesHammeringOneContextGetErrBusyNeverACrash(t *testing.T) {
	c := newContext(t)
	shape, keys, values := smallCache()
	p := DefaultCompressParams()
	blob, _, err := c.Compress(&p, shape, keys, values)
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 300
	var wg sync.WaitGroup
	busy := make([]int, 2)
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < rounds; i++ { // each round retries until its call ran
				var err error
				switch (g + i) % 5 {
				case 0:
					_, _, err = c.Compress(&p, shape, keys, values)
				case 1:
					_, _, err = c.Decompress(nil, blob)
				case 2:
					err = c.Verify(blob)
				case 3:
					_, _, err = c.DecompressPositions(nil, blob)
				case 4:
					err = c.SetProgress(func(done, total uint64) {})
				}
				_ = c.LastError()
				switch {
				case err == nil:
				case errors.Is(err, ErrBusy) && err.(*Error).Message == busyMessage:
					busy[g]++
					i--
					runtime.Gosched()
				default:
					t.Errorf("goroutine %d, round %d: %v", g, i, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	t.Logf("%d calls each; refused with ErrBusy first: %d and %d times", rounds, busy[0], busy[1])
	if _, _, err := c.Decompress(nil, blob); err != nil {
		t.Fatalf("the Context after the overlap: %v", err)
	}
}

func TestACallFromAnotherGoroutineDuringACallIsBusy(t *testing.T) {
	c := newContext(t)
	shape, keys, values := realCache(t, c)
	blob, _, err := c.Compress(nil, shape, keys, values)
	if err != nil {
		t.Fatal(err)
	}
	inside, done := make(chan struct{}), make(chan struct{})
	var once sync.Once
	if err := c.SetProgress(func(_, _ uint64) {
		once.Do(func() { close(inside); <-done }) // hold the call until the other goroutine tried
	}); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(done)
		<-inside
		_, _, err := c.Compress(nil, shape, keys, values)
		wantBusy(t, "Compress", err)
		wantBusy(t, "Verify", c.Verify(blob))
		_, err = c.Inspect(blob)
		wantBusy(t, "Inspect", err)
		wantBusy(t, "SetProgress", c.SetProgress(nil))
		if s := c.LastError(); s != "" {
			t.Errorf("LastError during another call: %q", s)
		}
	}()
	if _, _, err := c.Decompress(nil, blob); err != nil {
		t.Fatalf("the call that held the Context: %v", err)
	}
	<-done
	if err := c.Verify(blob); err != nil {
		t.Fatalf("after the call: %v", err)
	}
}

func TestAProgressCallbackCallingItsOwnContextGetsErrBusy(t *testing.T) {
	c := newContext(t)
	shape, keys, values := realCache(t, c)
	var calls int
	var inner error
	if err := c.SetProgress(func(_, _ uint64) {
		calls++
		if calls == 1 {
			_, _, inner = c.Compress(nil, shape, keys, values)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Compress(nil, shape, keys, values); err != nil {
		t.Fatalf("the outer call: %v", err)
	}
	if calls == 0 {
		t.Fatal("no progress reported")
	}
	wantBusy(t, "Compress from its own progress callback", inner)
}

func TestCloseInsideTheProgressCallbackFreesTheContextAfterTheCall(t *testing.T) {
	c, err := NewContext()
	if err != nil {
		t.Fatal(err)
	}
	shape, keys, values := smallCache()
	var calls, total uint64
	var closeErr, inner error
	if err := c.SetProgress(func(_, all uint64) {
		calls, total = calls+1, all
		if calls == 1 {
			closeErr = c.Close()
			_, _, inner = c.Compress(nil, shape, keys, values) // closing: refused, not run
		}
	}); err != nil {
		t.Fatal(err)
	}
	p := DefaultCompressParams()
	p.KeyBits, p.ValueBits = 16, 16
	blob, _, err := c.Compress(&p, shape, keys, values)
	if err != nil || closeErr != nil {
		t.Fatalf("Compress closed from its callback: %v (Close: %v)", err, closeErr)
	}
	if calls != total || total == 0 {
		t.Fatalf("progress after Close: %d calls of %d", calls, total)
	}
	wantClosed(t, "a call from the callback", inner)
	other := newContext(t)
	k2, _, err := other.Decompress(nil, blob)
	if err != nil || string(k2) != string(keys) {
		t.Fatalf("the blob of the call that was closed meanwhile: %v", err)
	}
	_, _, err = c.Compress(nil, shape, keys, values)
	wantClosed(t, "Compress", err)
	if err := c.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
}

func TestCloseFromAnotherGoroutineDuringACallWaitsForIt(t *testing.T) {
	c, err := NewContext()
	if err != nil {
		t.Fatal(err)
	}
	shape, keys, values := realCache(t, newContext(t))
	inside, done := make(chan struct{}), make(chan struct{})
	var once sync.Once
	if err := c.SetProgress(func(_, _ uint64) { once.Do(func() { close(inside); <-done }) }); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(done)
		<-inside
		if err := c.Close(); err != nil {
			t.Errorf("Close during a call: %v", err)
		}
	}()
	if _, _, err := c.Compress(nil, shape, keys, values); err != nil {
		t.Fatalf("the call during which Close came: %v", err)
	}
	<-done
	wantClosed(t, "Verify", c.Verify([]byte("blob")))
}

func TestEveryCallOnAClosedContextIsAnError(t *testing.T) {
	c, err := NewContext()
	if err != nil {
		t.Fatal(err)
	}
	shape, keys, values := smallCache()
	blob, _, err := c.Compress(nil, shape, keys, values)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	q := DefaultQueryShape()
	_, _, err = c.Compress(nil, shape, keys, values)
	wantClosed(t, "Compress", err)
	_, _, err = c.CompressLayers(nil, shape, [][]byte{keys}, [][]byte{values})
	wantClosed(t, "CompressLayers", err)
	_, _, err = c.CompressWithQueries(nil, shape, keys, values, &q, keys)
	wantClosed(t, "CompressWithQueries", err)
	_, err = c.Inspect(blob)
	wantClosed(t, "Inspect", err)
	wantClosed(t, "Verify", c.Verify(blob))
	_, _, err = c.Decompress(nil, blob)
	wantClosed(t, "Decompress", err)
	_, err = c.DecompressInto(nil, blob, keys, values)
	wantClosed(t, "DecompressInto", err)
	_, _, err = c.DecompressPositions(nil, blob)
	wantClosed(t, "DecompressPositions", err)
	_, err = c.DecompressPositionsInto(nil, blob, nil, nil)
	wantClosed(t, "DecompressPositionsInto", err)
	_, err = c.DecompressMask(nil, blob)
	wantClosed(t, "DecompressMask", err)
	_, err = c.Estimate(nil, shape)
	wantClosed(t, "Estimate", err)
	_, err = c.Validate(nil, nil, shape, keys, values, nil, nil, blob)
	wantClosed(t, "Validate", err)
	_, err = c.Benchmark(nil, shape, keys, values, nil, nil, 1)
	wantClosed(t, "Benchmark", err)
	_, err = c.QualityCompare(nil, shape, keys, values, shape, keys, values)
	wantClosed(t, "QualityCompare", err)
	path := filepath.Join(t.TempDir(), "x.safetensors")
	wantClosed(t, "SaveCache", c.SaveCache(path, shape, keys, values, ""))
	_, err = c.LoadCache(path)
	wantClosed(t, "LoadCache", err)
	_, err = c.LoadQueryFile(path)
	wantClosed(t, "LoadQueryFile", err)
	_, err = c.AdapterFromHFConfig([]byte("{}"))
	wantClosed(t, "AdapterFromHFConfig", err)
	_, err = c.AdapterFromGGUF(path)
	wantClosed(t, "AdapterFromGGUF", err)
	wantClosed(t, "SetProgress", c.SetProgress(func(_, _ uint64) {}))
	wantClosed(t, "SetStats", c.SetStats(nil))
	wantClosed(t, "SetStream", c.SetStream(nil))
	if s := c.LastError(); s != "" {
		t.Errorf("LastError after Close: %q", s)
	}
	var none *Context
	if err := none.Verify(blob); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Verify on a nil Context: %v", err)
	}
	if err := none.Close(); err != nil {
		t.Errorf("Close of a nil Context: %v", err)
	}
}
