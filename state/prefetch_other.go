//go:build !amd64

package state

import "unsafe"

func prefetchCall(unsafe.Pointer) {}

func prefetchLine(unsafe.Pointer) {}
