package nstest

import "syscall"

const syscallSignal0 = syscall.Signal(0)
