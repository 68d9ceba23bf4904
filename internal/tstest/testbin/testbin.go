// Package testbin gives end-to-end tests the vpngw binary: $VPNGW_BIN when
// set (make test sets it to the binary it just built), otherwise one built
// from this module once per test process and removed when the tests end.
//
//	func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }
//
//	bin := testbin.Path(t)
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	once sync.Once
	dir  string
	path string
	err  error
)

// Path returns the vpngw binary, building it on first use (failing the
// test if that fails).
func Path(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("VPNGW_BIN"); p != "" {
		return p
	}
	once.Do(build)
	if err != nil {
		t.Fatalf("testbin: building vpngw: %v", err)
	}
	return path
}

func build() {
	dir, err = os.MkdirTemp("", "vpngw-testbin-")
	if err != nil {
		return
	}
	path = filepath.Join(dir, "vpngw")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, statErr := os.Stat(goTool); statErr != nil {
		goTool = "go"
	}
	out, buildErr := exec.Command(goTool, "build", "-o", path, "github.com/vpngw/vpngw/cmd/vpngw").CombinedOutput()
	if buildErr != nil {
		err = fmt.Errorf("%w: %s", buildErr, out)
	}
}

// Main runs the tests and removes the binary Path built, if any; call it
// from TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	if dir != "" {
		os.RemoveAll(dir)
	}
	return code
}
