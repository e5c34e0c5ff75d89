// Command gatehouse is an identity tenant and the MCP controller every AI
// tool call passes through.
package main

import (
	"os"

	"github.com/gatehouse/gatehouse/internal/cli"
)

func main() { os.Exit(cli.Main()) }
