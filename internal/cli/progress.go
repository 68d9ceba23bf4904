package cli

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// spinnerFrames are az's progress indicator frames.
var spinnerFrames = []string{`\`, "|", "/", "-"}

// startSpinner shows az's "- Running .." indicator on w while an operation
// runs, if w is a terminal (nothing otherwise), and returns the function
// that stops it and clears the line.
func startSpinner(w io.Writer) (stop func()) {
	if !isTerminal(w) {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(150 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			fmt.Fprintf(w, "\r%s Running ..", spinnerFrames[i%len(spinnerFrames)])
			select {
			case <-done:
				fmt.Fprint(w, "\r            \r")
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}
