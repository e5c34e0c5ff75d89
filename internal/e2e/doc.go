// Package e2e holds end-to-end tests: a whole Gatehouse started in-process
// on a loopback port and driven by peers nobody here wrote (OIDC relying
// parties, the official MCP SDK clients, mcp-remote, the MCP conformance
// suite). Its only non-test code is the harness those tests share.
package e2e
