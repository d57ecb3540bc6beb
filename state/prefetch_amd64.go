package state

import "unsafe"

// Prefetch hints, in assembly: Go has no prefetch intrinsic, and plain
// loads used as a substitute stall the pipeline on the very misses they are
// meant to hide. A prefetch never faults, so a stale pointer is harmless.

//go:noescape
func prefetchCall(p unsafe.Pointer)

//go:noescape
func prefetchLine(p unsafe.Pointer)
