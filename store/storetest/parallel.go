package storetest

import (
	"sync"
	"sync/atomic"
)

// Parallel runs do(0) … do(n-1) on k goroutines and returns the first
// error (the goroutine that met it stops; the others finish their share):
// the benchmarks' fan-out of many writers on one store.
func Parallel(k, n int, do func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, k)
	for range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if err := do(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}
