// Package gateway is the MCP controller at /mcp: every AI tool call passes
// through it. It serves MCP over Streamable HTTP (through the official Go
// SDK, every protocol revision the SDK serves) as an OAuth protected
// resource, shows each caller only the tools its person may call through
// its agent (and tells a session its tool list changed when, and only
// when, that list changed), and runs each tools/call as authenticate → decide (package
// policy) → audit the decision → mint a permission slip (package slip) →
// run the backend with it → audit the result.
//
// It also supervises the upstream MCP servers (stdio processes it starts
// and restarts, or Streamable HTTP servers), imports their tools into the
// catalogue pinned by the hash of their definitions (a changed definition
// is withheld until Approve), and relays what they say during a call
// (content, structured content, errors, progress, log messages, sampling
// and elicitation requests). Their prompts and resources are shown to the
// callers who may call one of their tools.
//
// It must never send the caller's access token onward, never run a call
// whose allow is not durably in the audit trail, never read static tenant
// configuration from the database on the call path (it keeps a snapshot,
// reloaded when the store's revision moves), and never tell a caller more
// about a tool it may not call than about a tool that does not exist.
package gateway
