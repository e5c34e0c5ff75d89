// Package server is the composition root: it opens the store, loads the
// keys, builds every handler from its narrow dependencies, mounts them on
// one mux with the shared middleware (request ID, logs, metrics) and serves
// until its context ends, finishing in-flight requests.
//
// Domain packages never import server; it imports them.
package server
