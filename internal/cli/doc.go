// Package cli is the gatehouse command: its subcommands, their flags (every
// flag also read from GATEHOUSE_<FLAG>) and their help. It only parses and
// prints; the work is done by the domain packages and the server.
package cli
