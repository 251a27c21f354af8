package action

import "syscall"

// dieWithParent has the kernel kill the interpreter when tocsin dies
// (kill -9, OOM): no timeout watches it then, and a restarted tocsin may
// run the step again beside it.
func dieWithParent(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
