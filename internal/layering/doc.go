// Package layering holds no code: its test keeps the module's package graph
// as the packages' docs draw it (who may import whom), so a shortcut across
// layers fails `make test` instead of slowly eroding the picture. It must
// not be imported.
package layering
